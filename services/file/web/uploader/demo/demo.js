// The demo page (GET /demo/uploader on the local stack): the uploader, then the files saved as a project.
// The token comes from the URL's fragment (#token=...) or the form (make token); it stays in this tab.
import { createUploader } from '/demo/uploader/uploader.js'

const $ = (selector) => document.querySelector(selector)
const fragment = new URLSearchParams(location.hash.slice(1))
if (fragment.get('token')) sessionStorage.setItem('imagestore-token', fragment.get('token'))
const token = sessionStorage.getItem('imagestore-token')

if (!token) {
  $('#login').hidden = false
  $('#login').addEventListener('submit', (event) => {
    event.preventDefault()
    sessionStorage.setItem('imagestore-token', $('#token').value.trim())
    location.reload()
  })
} else {
  start(token)
}

function start(token) {
  const threshold = Number(new URLSearchParams(location.search).get('multipartMiB') || 10)
  const { uppy, api } = createUploader({
    apiBase: location.origin,
    token,
    target: '#uploader',
    multipartThresholdBytes: threshold * 1024 * 1024,
  })
  window.imagestoreDemo = { uppy, api }

  const render = () => {
    const files = uppy.getFiles()
    const list = $('#files')
    list.replaceChildren(
      ...files.map((file) => {
        const li = document.createElement('li')
        li.textContent = file.name
        li.dataset.uppyId = file.id
        if (file.meta.imagestoreFileId) li.dataset.fileId = file.meta.imagestoreFileId
        if (file.meta.imagestoreStatus) li.dataset.status = file.meta.imagestoreStatus
        if (file.error) {
          li.className = 'failed'
          li.title = String(file.error)
        }
        return li
      }),
    )
    const available = files.filter((f) => f.meta.imagestoreStatus === 'available')
    const failed = files.filter((f) => f.error)
    const { totalProgress } = uppy.getState()
    if (files.length === 0) $('#status').textContent = 'Choose photos.'
    else if (available.length === files.length) $('#status').textContent = `All ${files.length} photos are uploaded.`
    else if (failed.length > 0)
      $('#status').textContent = `${available.length} of ${files.length} photos uploaded, ${failed.length} failed.`
    else $('#status').textContent = `${available.length} of ${files.length} photos uploaded (${totalProgress} %).`
    $('#save-project').disabled = available.length === 0
  }
  for (const event of ['file-added', 'file-removed', 'upload-error', 'complete', 'restored', 'progress']) {
    uppy.on(event, render)
  }
  uppy.on('imagestore:file-completed', render)
  render()

  $('#save').addEventListener('submit', async (event) => {
    event.preventDefault()
    const fileIds = uppy
      .getFiles()
      .filter((f) => f.meta.imagestoreStatus === 'available')
      .map((f) => f.meta.imagestoreFileId)
    $('#save-project').disabled = true
    try {
      const project = await api.request('POST', '/projects', {
        body: { name: $('#project-name').value, productType: 'photo-book', fileIds },
        idempotencyKey: `demo-project-${crypto.randomUUID()}`,
      })
      const out = $('#project')
      out.textContent = `Saved project ${project.projectId} with ${project.files ? project.files.length : fileIds.length} photos.`
      out.dataset.projectId = project.projectId
    } catch (error) {
      $('#project').textContent = `Not saved: ${error.message}`
    } finally {
      $('#save-project').disabled = false
    }
  })
}
