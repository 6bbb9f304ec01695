// The console's script: sends uploads, places the HTML fragments the server sends (it escapes
// everything in them), refreshes the queue, replays dead letters. No build step, no framework.
"use strict";
const headers = { "X-Thumbnail-Console": "1" };
const uploads = document.getElementById("uploads");
const uploadStatus = document.getElementById("upload-status");

function place(id, html) {
  const template = document.createElement("template");
  template.innerHTML = html;
  const node = template.content.firstElementChild;
  document.getElementById("upload-" + id)?.remove();
  document.getElementById("no-uploads")?.remove();
  uploads.prepend(node);
}

new EventSource("/events").addEventListener("entry", (event) => {
  const { id, html } = JSON.parse(event.data);
  place(id, html);
});

async function upload(files) {
  if (!files.length) return;
  const form = new FormData();
  for (const file of files) form.append("file", file, file.name);
  uploadStatus.textContent = `uploading ${files.length} file(s)…`;
  try {
    const response = await fetch("/uploads", { method: "POST", body: form, headers });
    const body = await response.json();
    const refused = body.refused.map((r) => `${r.name}: ${r.reason}`).join("; ");
    uploadStatus.textContent =
      (body.error ? `${body.error}; ` : "") +
      `${body.uploaded.length} uploaded` +
      (refused ? `; refused: ${refused}` : "");
  } catch (error) {
    uploadStatus.textContent = `upload failed: ${error}`;
  }
}

const drop = document.getElementById("drop");
const picker = document.getElementById("files");
picker.addEventListener("change", () => upload(picker.files));
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  upload(event.dataTransfer.files);
});

async function refresh() {
  try {
    const response = await fetch("/fragments/status");
    if (response.ok) document.getElementById("status").innerHTML = await response.text();
  } catch (_) {
    // The worker is restarting: the next refresh tries again.
  }
}
setInterval(refresh, 3000);

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-replay]");
  if (!button) return;
  button.disabled = true;
  const id = encodeURIComponent(button.dataset.replay);
  await fetch(`/dead-letters/${id}/replay`, { method: "POST", headers });
  refresh();
});
