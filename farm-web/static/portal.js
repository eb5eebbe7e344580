// farmd portal: progressive enhancement only; every form works without this file.
"use strict";

// Live name check on the create form: asks the API whether a name could be taken now.
function setUpNameCheck() {
  const form = document.getElementById("create-wiki");
  const input = document.getElementById("name");
  const out = document.getElementById("name-check");
  if (!form || !input || !out) return;
  let timer = null;
  let asked = "";
  const check = async () => {
    const name = input.value.trim();
    if (name === "" || name === asked) return;
    asked = name;
    try {
      const response = await fetch("/api/v1/names/" + encodeURIComponent(name), { credentials: "same-origin" });
      if (!response.ok || name !== input.value.trim()) return;
      const answer = await response.json();
      if (answer.available) {
        out.dataset.state = "ok";
        out.dataset.code = "";
        out.textContent = out.dataset.ok;
        input.removeAttribute("aria-invalid");
      } else {
        out.dataset.state = "error";
        out.dataset.code = answer.error.code;
        out.textContent = out.getAttribute("data-msg-" + answer.error.code) ?? answer.error.message;
        input.setAttribute("aria-invalid", "true");
      }
    } catch (_) {
      // Offline or the server is busy: the form still checks on submit.
    }
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(check, 250);
  });
  input.addEventListener("blur", check);
}

// The wiki page follows provisioning: poll the API and reload once the state changes.
function setUpWikiProgress() {
  const state = document.getElementById("wiki-state");
  if (!state || state.dataset.state !== "provisioning") return;
  const name = state.dataset.wiki;
  const poll = async () => {
    try {
      const response = await fetch("/api/v1/wikis/" + encodeURIComponent(name), { credentials: "same-origin" });
      if (response.ok) {
        const wiki = await response.json();
        for (const step of wiki.progress ?? []) {
          const item = document.querySelector(`#steps li[data-step="${step.step}"]`);
          if (item) item.dataset.done = String(step.done);
        }
        if (wiki.state !== "provisioning") {
          window.location.reload();
          return;
        }
      }
    } catch (_) {
      // Try again below.
    }
    setTimeout(poll, 500);
  };
  setTimeout(poll, 300);
}

// The settings page previews a chosen logo before it is uploaded (a data: URL, which the
// page's policy allows; the upload itself is a plain form).
function setUpLogoPreview() {
  const input = document.getElementById("logo-file");
  const preview = document.getElementById("logo-preview");
  if (!input || !preview) return;
  const original = preview.getAttribute("src");
  input.addEventListener("change", () => {
    const file = input.files && input.files[0];
    if (!file || !file.type.startsWith("image/")) {
      preview.setAttribute("src", original);
      delete preview.dataset.local;
      return;
    }
    const reader = new FileReader();
    reader.addEventListener("load", () => {
      preview.setAttribute("src", String(reader.result));
      preview.dataset.local = "true";
    });
    reader.readAsDataURL(file);
  });
}

// The import form shows how far the upload is: the same form, posted by XMLHttpRequest for
// its upload progress events. The answer is the wiki's page (after the redirect), or the form
// again with what was wrong, which replaces this page. Without this the form posts as usual.
function setUpImportProgress() {
  const form = document.getElementById("import-wiki");
  const box = document.getElementById("import-progress");
  if (!form || !box || !window.XMLHttpRequest || !window.FormData || !window.DOMParser) return;
  const bar = box.querySelector("progress");
  const text = document.getElementById("import-progress-text");
  const button = form.querySelector('button[type="submit"]');
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.upload.addEventListener("progress", (progress) => {
      if (!progress.lengthComputable || progress.total === 0) return;
      const percent = Math.floor((progress.loaded * 100) / progress.total);
      bar.value = percent;
      text.textContent = box.dataset.uploading.replace("{percent}", String(percent));
    });
    xhr.upload.addEventListener("load", () => {
      bar.removeAttribute("value");
      text.textContent = box.dataset.checking;
    });
    xhr.addEventListener("load", () => {
      const landed = xhr.responseURL ? new URL(xhr.responseURL, window.location.href) : null;
      if (landed && landed.pathname !== new URL(form.action, window.location.href).pathname) {
        window.location.assign(landed.href);
        return;
      }
      // The form again (or the portal's error page): shown in place of this one.
      const page = new DOMParser().parseFromString(xhr.responseText, "text/html");
      document.title = page.title;
      document.body.replaceWith(document.adoptNode(page.body));
      setUpImportProgress();
    });
    xhr.addEventListener("error", () => {
      text.textContent = box.dataset.failed;
      button.disabled = false;
    });
    box.hidden = false;
    bar.value = 0;
    text.textContent = box.dataset.uploading.replace("{percent}", "0");
    button.disabled = true;
    xhr.send(new FormData(form));
  });
}

// The sign-on answer for a wiki goes on by itself (its button is there for browsers without
// scripts).
function submitAutomatically() {
  const form = document.querySelector("form[data-autosubmit]");
  if (form) form.submit();
}

document.addEventListener("DOMContentLoaded", () => {
  submitAutomatically();
  setUpNameCheck();
  setUpWikiProgress();
  setUpLogoPreview();
  setUpImportProgress();
});
