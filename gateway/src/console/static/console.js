// Sekisho console: the send page's upload with a progress bar. Everything
// else in the console is plain HTML forms. Served from the gateway itself
// (the content security policy allows no inline or foreign script).
"use strict";

(function () {
  const form = document.getElementById("send");
  if (!form) return;
  const ja = form.dataset.lang !== "en";
  const say = (jaText, enText) => (ja ? jaText : enText);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const filesInput = document.getElementById("files");
  const table = document.getElementById("file-classes");
  const body = table.querySelector("tbody");
  const choice = document.getElementById("class-choice");
  const progress = document.getElementById("progress");
  const status = document.getElementById("send-status");
  const button = document.getElementById("send-button");
  const order = { III: 0, II: 1, I: 2 };

  function sizeText(bytes) {
    const units = ["B", "KB", "MB", "GB", "TB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1000 && unit + 1 < units.length) {
      value /= 1000;
      unit += 1;
    }
    return unit === 0 ? bytes + " B" : value.toFixed(1) + " " + units[unit];
  }

  filesInput.addEventListener("change", () => {
    body.replaceChildren();
    Array.from(filesInput.files).forEach((file, i) => {
      const row = document.createElement("tr");
      const name = document.createElement("td");
      name.textContent = file.name;
      const size = document.createElement("td");
      size.textContent = sizeText(file.size);
      const cell = document.createElement("td");
      const select = choice.content.firstElementChild.cloneNode(true);
      select.id = "class-" + i;
      select.dataset.index = String(i);
      select.setAttribute("aria-label", say("重要性: ", "Class: ") + file.name);
      cell.appendChild(select);
      row.append(name, size, cell);
      body.appendChild(row);
    });
    table.hidden = filesInput.files.length === 0;
  });

  async function call(method, url, payload) {
    const response = await fetch(url, {
      method,
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(payload),
      credentials: "same-origin",
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.message || response.statusText);
    return answer;
  }

  // One file's bytes, streamed by the browser; progress over all bytes.
  function put(url, file, sentBefore, total) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", url);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.upload.onprogress = (e) => {
        progress.value = total ? ((sentBefore + e.loaded) * 100) / total : 100;
      };
      xhr.onload = () => {
        let answer = {};
        try {
          answer = JSON.parse(xhr.responseText);
        } catch (_) {
          answer = {};
        }
        if (xhr.status >= 200 && xhr.status < 300) resolve(answer);
        else reject(new Error(answer.message || xhr.statusText));
      };
      xhr.onerror = () => reject(new Error(say("通信が切れました。", "The connection was lost.")));
      xhr.send(file);
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const files = Array.from(filesInput.files);
    const classes = files.map((_, i) => document.getElementById("class-" + i).value);
    const recipients = Array.from(form.querySelectorAll('input[name="recipient"]:checked')).map(
      (box) => box.value,
    );
    if (recipients.length === 0) {
      status.textContent = say("宛先を1人以上選んでください。", "Choose at least one recipient.");
      return;
    }
    const highest = classes.reduce((a, b) => (order[b] > order[a] ? b : a), "III");
    button.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    try {
      status.textContent = say("送信を準備しています…", "Preparing…");
      const created = await call("POST", "/send", {
        class: highest,
        purpose: document.getElementById("purpose").value,
        recipients,
        files: files.map((file, i) => ({ name: file.name, size: file.size, class: classes[i] })),
      });
      const total = files.reduce((sum, f) => sum + f.size, 0);
      let sent = 0;
      const digests = [];
      for (const slot of created.uploads) {
        const file = files[slot.index];
        status.textContent = say("送信中: ", "Uploading: ") + file.name;
        const entry = await put("/send/" + created.id + "/files/" + slot.index, file, sent, total);
        sent += file.size;
        digests.push({ index: slot.index, sha256: entry.sha256 });
      }
      status.textContent = say("確定しています…", "Submitting…");
      const submitted = await call("POST", "/send/" + created.id + "/submit", { files: digests });
      progress.value = 100;
      showSent(submitted);
    } catch (error) {
      status.textContent = say("送信できませんでした: ", "Not sent: ") + error.message;
      button.disabled = false;
    }
  });

  function showSent(submitted) {
    form.hidden = true;
    const sent = document.getElementById("sent");
    sent.hidden = false;
    const waiting = submitted.transfer.state === "pending_approval";
    document.getElementById("sent-state").textContent = waiting
      ? say("承認者の承認を待っています。承認されると受取人にリンクが届きます。",
            "It waits for the approver; once approved the recipients get their links.")
      : say("受取人にリンクが届きます。", "The recipients get their links.");
    document.getElementById("sent-link").href = "/transfers/" + submitted.transfer.id;
    if (submitted.passphrases.length > 0) {
      const box = document.getElementById("passphrases");
      box.hidden = false;
      const rows = box.querySelector("tbody");
      for (const p of submitted.passphrases) {
        const row = document.createElement("tr");
        const who = document.createElement("td");
        who.textContent = p.recipient;
        const secret = document.createElement("td");
        const code = document.createElement("code");
        code.textContent = p.passphrase;
        code.className = "passphrase";
        secret.appendChild(code);
        row.append(who, secret);
        rows.appendChild(row);
      }
    }
  }
})();
