/* Live preview of a message layout being edited (admin): the form is posted as it is to the
   preview endpoint, which validates and renders it exactly as a send would. */
(function () {
  "use strict";
  const panel = document.getElementById("layout-preview");
  if (!panel) return;
  const form = document.getElementById("channellayout_form");
  const status = panel.querySelector(".compose-status");
  const frame = panel.querySelector('[data-preview="html"]');
  const text = panel.querySelector('[data-preview="text"]');
  const problems = panel.querySelector('[data-preview="problems"]');
  let timer = null;
  let sequence = 0;

  function body() {
    const data = new FormData(form);
    data.delete("csrfmiddlewaretoken");
    if (panel.dataset.objectId) data.set("object_id", panel.dataset.objectId);
    return data;
  }

  function token() {
    const field = form.querySelector("[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function show(answer) {
    const html = answer.part && answer.part.html !== undefined && answer.name.endsWith(".html");
    frame.hidden = !html;
    text.hidden = html;
    if (html) frame.srcdoc = answer.part.html;
    else if (answer.part && answer.part.text !== undefined) text.textContent = answer.part.text;
    else text.textContent = JSON.stringify(answer.part, null, 2);
  }

  async function refresh() {
    const mine = ++sequence;
    status.textContent = "updating…";
    try {
      const response = await fetch(panel.dataset.previewUrl, {
        method: "POST", body: body(), headers: { "X-CSRFToken": token() }, credentials: "same-origin",
      });
      const answer = await response.json();
      if (mine !== sequence) return;
      const fields = (answer.extra && answer.extra.fields) || {};
      const errors = response.ok ? [] : [].concat(...Object.values(fields), Object.keys(fields).length ? [] : [answer.message]);
      problems.replaceChildren(...errors.map((message) => Object.assign(document.createElement("li"), { textContent: message })));
      if (response.ok) show(answer);
      status.textContent = response.ok ? "up to date" : "has errors";
    } catch (error) {
      if (mine === sequence) status.textContent = "preview failed: " + error.message;
    }
  }

  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(refresh, 400); });
  form.addEventListener("change", () => { clearTimeout(timer); timer = setTimeout(refresh, 100); });
  refresh();
})();
