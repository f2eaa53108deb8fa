// The phone's mobile upload page: plain JavaScript, no build step.
// The token comes in the URL fragment (#token=mu1....), which the browser never sends to a server.
// Each photo: POST /uploads -> POST the bytes straight to S3 (presigned) -> POST /uploads/{id}/complete.
"use strict";

(function () {
  const apiBase = (document.querySelector('meta[name="imagestore-api"]').content || "").replace(/\/$/, "");
  const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
  const mobileUploadId = token.startsWith("mu1.") ? token.split(".").slice(-2, -1)[0] : "";

  const el = (id) => document.getElementById(id);
  const statusBox = el("status");
  const queue = el("queue");
  let session = null;
  let linkDead = false;
  let busy = 0;

  const EXTENSION_TYPES = { jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", webp: "image/webp",
                            heic: "image/heic", heif: "image/heic" };

  function setStatus(text, kind) {
    statusBox.textContent = text;
    statusBox.className = "status" + (kind ? " " + kind : "");
  }

  function linkMessage(status, message) {
    if (status === 401) {
      if (/revoked/i.test(message)) return "This upload link has been switched off on your computer. Create a new QR code there to continue.";
      if (/expired/i.test(message)) return "This upload link has expired. Create a new QR code on your computer and scan it again.";
      return "This upload link has expired or was switched off. Create a new QR code on your computer and scan it again.";
    }
    if (status === 403) return "This upload link does not allow that. Create a new QR code on your computer.";
    return message;
  }

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + token };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(apiBase + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      throw new ApiError(0, "network", "The server cannot be reached. Check your connection and try again.");
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (err) { data = null; }
    if (!response.ok) {
      const error = (data && data.error) || {};
      // API Gateway's own answers (authorizer refusals) carry {"message": "..."}.
      const message = error.message || (data && data.message) || ("The server answered " + response.status + ".");
      throw new ApiError(response.status, error.code || "http_" + response.status, message);
    }
    return data;
  }

  function refuse(err) {
    linkDead = true;
    setStatus(linkMessage(err.status, err.message), "error");
    el("picker").hidden = true;
  }

  function formatBytes(n) {
    if (n >= 1024 * 1024 * 1024) return (n / 1024 / 1024 / 1024).toFixed(1) + " GB";
    if (n >= 1024 * 1024) return (n / 1024 / 1024).toFixed(1) + " MB";
    if (n >= 1024) return Math.round(n / 1024) + " KB";
    return n + " bytes";
  }

  function showSession(data) {
    session = data;
    const until = new Date(data.expiresAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    el("limits").textContent = "Up to " + data.maxFiles + " photos (" + data.fileCount + " sent so far), at most "
      + formatBytes(data.maxFileBytes) + " each. This link works until " + until + ".";
    el("picker").hidden = false;
    const arrived = el("arrived");
    arrived.replaceChildren();
    for (const file of data.files.filter((f) => f.status === "available")) {
      const item = document.createElement("li");
      item.className = "ok";
      item.dataset.fileId = file.fileId;
      const thumb = document.createElement("div");
      thumb.className = "thumb";
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = file.filename;
      const note = document.createElement("span");
      note.className = "note";
      note.textContent = (file.width && file.height ? file.width + " × " + file.height + " · " : "")
        + formatBytes(file.sizeBytes);
      item.append(thumb, name, note);
      arrived.append(item);
    }
    el("arrived-section").hidden = arrived.children.length === 0;
  }

  async function loadSession() {
    try {
      showSession(await api("GET", "/mobile-uploads/" + encodeURIComponent(mobileUploadId) + "/session"));
      return true;
    } catch (err) {
      if (err.status === 401 || err.status === 403) refuse(err);
      else setStatus(err.message, "error");
      return false;
    }
  }

  function postToStorage(upload, file, onProgress) {
    return new Promise((resolve, reject) => {
      const form = new FormData();
      for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
      form.append("file", file);  // S3 requires the file to be the last field
      const xhr = new XMLHttpRequest();
      xhr.open(upload.method || "POST", upload.url);
      xhr.upload.onprogress = (event) => { if (event.lengthComputable) onProgress(event.loaded / event.total); };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) return resolve();
        const match = /<Message>([^<]*)<\/Message>/.exec(xhr.responseText || "");
        reject(new ApiError(xhr.status, "storage", "The photo storage refused the file"
          + (match ? ": " + match[1] : " (" + xhr.status + ")") + "."));
      };
      xhr.onerror = () => reject(new ApiError(0, "network", "The upload was interrupted. Check your connection and try again."));
      xhr.send(form);
    });
  }

  function queueItem(file) {
    const item = document.createElement("li");
    const thumb = document.createElement("img");
    thumb.alt = "";
    thumb.src = URL.createObjectURL(file);
    thumb.onerror = () => { thumb.replaceWith(Object.assign(document.createElement("div"), { className: "thumb" })); };
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name || "photo";
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = 0;
    const note = document.createElement("span");
    note.className = "note";
    note.textContent = "Waiting…";
    item.append(thumb, name, bar, note);
    queue.append(item);
    el("queue-title").hidden = false;
    return { item, bar, note };
  }

  async function uploadOne(file, row) {
    if (linkDead) {
      row.item.className = "failed";
      row.note.textContent = "Not sent: the upload link no longer works.";
      return;
    }
    const contentType = file.type || EXTENSION_TYPES[(file.name.split(".").pop() || "").toLowerCase()] || "application/octet-stream";
    try {
      row.note.textContent = "Preparing…";
      const ticket = await api("POST", "/uploads", { filename: file.name || "photo.jpg", contentType, sizeBytes: file.size });
      row.note.textContent = "Uploading…";
      await postToStorage(ticket.upload, file, (fraction) => {
        row.bar.value = fraction;
        row.note.textContent = "Uploading… " + Math.round(fraction * 100) + " %";
      });
      row.bar.value = 1;
      row.note.textContent = "Checking…";
      const done = await api("POST", "/uploads/" + encodeURIComponent(ticket.fileId) + "/complete");
      row.item.className = "ok";
      row.item.dataset.fileId = done.fileId;
      row.note.textContent = "Arrived ✓ " + (done.width && done.height ? done.width + " × " + done.height : "");
    } catch (err) {
      row.item.className = "failed";
      if (err.status === 401 || err.status === 403) {
        refuse(err);
        row.note.textContent = "Not sent: " + linkMessage(err.status, err.message);
      } else {
        row.note.textContent = "Refused: " + err.message;
      }
    }
  }

  async function uploadAll(files) {
    const rows = files.map((file) => [file, queueItem(file)]);
    busy += 1;
    setStatus("Uploading " + files.length + (files.length === 1 ? " photo…" : " photos…"));
    // Two at a time: fast on a good connection, gentle on a weak one.
    let next = 0;
    async function worker() {
      while (next < rows.length) {
        const [file, row] = rows[next++];
        await uploadOne(file, row);
      }
    }
    await Promise.all([worker(), worker()]);
    busy -= 1;
    if (linkDead) return;
    const failed = rows.filter(([, row]) => row.item.className === "failed").length;
    await loadSession();
    if (linkDead || busy) return;
    if (failed) setStatus(failed + " of " + rows.length + " photos were not accepted; see below.", "error");
    else setStatus("Done: " + rows.length + (rows.length === 1 ? " photo has" : " photos have")
      + " arrived on your computer. You can add more.", "done");
    document.body.dataset.state = "idle";
  }

  function onPicked(event) {
    const files = Array.from(event.target.files || []);
    event.target.value = "";
    if (files.length) {
      document.body.dataset.state = "uploading";
      uploadAll(files);
    }
  }

  async function start() {
    if (!mobileUploadId) {
      setStatus("This page needs the link from the QR code on your computer. Scan the QR code again.", "error");
      return;
    }
    el("choose").addEventListener("change", onPicked);
    el("shoot").addEventListener("change", onPicked);
    if (await loadSession()) {
      setStatus("Choose photos or take one: they go straight to your computer.");
      document.body.dataset.state = "ready";
    }
  }

  start();
})();
