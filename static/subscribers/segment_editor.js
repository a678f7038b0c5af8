/* Segment editor (admin): as the rules change, post them (unsaved) to the preview endpoint and
   show how many mailable subscribers match and a sample of them. No framework, no CDN. */
(function () {
  "use strict";
  const panel = document.getElementById("segment-preview");
  const rules = document.querySelector("textarea[name=rules]");
  if (!panel || !rules) return;
  const status = panel.querySelector(".compose-status");
  const slot = (name) => panel.querySelector('[data-segment="' + name + '"]');
  let timer = null;
  let sequence = 0;

  function csrfToken() {
    const field = document.querySelector("[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function problems(list) {
    slot("problems").replaceChildren(...list.map((text) => {
      const li = document.createElement("li");
      li.textContent = text;
      return li;
    }));
  }

  async function refresh() {
    const mine = ++sequence;
    status.textContent = "counting…";
    const body = new FormData();
    body.set("rules", rules.value);
    try {
      const response = await fetch(panel.dataset.previewUrl, {
        method: "POST", body: body, headers: { "X-CSRFToken": csrfToken() }, credentials: "same-origin",
      });
      const data = await response.json();
      if (mine !== sequence) return; // a newer edit is being counted
      if (!response.ok) {
        const fields = (data.extra && data.extra.fields) || {};
        problems(Object.keys(fields).length
          ? Object.entries(fields).map(([path, messages]) => path + ": " + messages.join(" "))
          : [data.message]);
        slot("count").textContent = "–";
        slot("sample").replaceChildren();
        status.textContent = "not counted";
        return;
      }
      problems([]);
      slot("count").textContent = data.count.toLocaleString();
      slot("sample").replaceChildren(...data.results.map((row) => {
        const tr = document.createElement("tr");
        tr.append(cell(row.email), cell(row.name), cell(String(row.engagement_score)));
        return tr;
      }));
      status.textContent = "up to date";
    } catch (error) {
      if (mine === sequence) status.textContent = "count failed: " + error.message;
    }
  }

  rules.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(refresh, 400); });
  refresh();
})();
