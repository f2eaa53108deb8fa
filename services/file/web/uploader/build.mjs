// Bundles the imagestore uploader (src/) with Uppy for the browser: build/web/uploader/uploader.js and
// uploader.css (Uppy's core and Dashboard styles). Run by `make uploader` (which `make run` and `make test`
// depend on); offline, from node_modules only.
//
// @uppy/aws-s3 6.x talks to S3 through an internal S3Client with three implementations chosen by its
// options (Companion, SigV4 with credentials, a presigned URL per S3 request). None fits imagestore,
// whose API itself creates, lists and completes multipart uploads and signs parts with their checksums.
// So the build hands the plugin imagestore's own client (src/imagestore-s3-client.js, an S3Client subclass)
// where it imports its Companion client: the plugin is used with `companionEndpoint`, which names the
// uploader instance. The versions are pinned exactly in package.json; the build fails if the module it
// replaces is not imported exactly once (a new @uppy/aws-s3 must be checked before it is used).
import { build } from 'esbuild'
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, '../../../..')
const awsS3 = join(root, 'node_modules/@uppy/aws-s3/lib')
const out = join(root, 'build/web/uploader')

let replaced = 0
const imagestoreClient = {
  name: 'imagestore-s3-client',
  setup(b) {
    // The plugin's Companion client -> imagestore's client.
    b.onResolve({ filter: /^\.\/s3-client\/CompanionS3\.js$/ }, (args) => {
      if (resolve(args.resolveDir) !== awsS3) return undefined
      replaced += 1
      return { path: join(here, 'src/imagestore-s3-client.js') }
    })
    // The abstract S3Client the imagestore client extends (not in the package's exports).
    b.onResolve({ filter: /^@uppy\/aws-s3\/internal\/S3Client$/ }, () => ({
      path: join(awsS3, 's3-client/S3Client.js'),
    }))
  },
}

const started = Date.now()
await build({
  entryPoints: [join(here, 'src/index.js')],
  bundle: true,
  format: 'esm',
  target: ['chrome110', 'firefox115', 'safari16'],
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  outfile: join(out, 'uploader.js'),
  plugins: [imagestoreClient],
  logLevel: 'warning',
})
if (replaced !== 1) {
  throw new Error(`@uppy/aws-s3's Companion client was replaced ${replaced} times, expected once: check the version`)
}
const css = ['@uppy/core/dist/style.min.css', '@uppy/dashboard/dist/style.min.css']
  .map((p) => readFileSync(join(root, 'node_modules', p), 'utf8'))
  .join('\n')
mkdirSync(out, { recursive: true })
writeFileSync(join(out, 'uploader.css'), css)
for (const name of ['index.html', 'demo.js', 'demo.css']) copyFileSync(join(here, 'demo', name), join(out, name))
console.log(`uploader: build/web/uploader built in ${Date.now() - started} ms`)
