/* Live per-channel preview for the publication form (admin). No framework, no CDN.
   The form is posted as it is (unsaved) to the preview endpoint, which renders every channel
   with the same service that sends; this file only displays the result. */
(function () {
  "use strict";
  const panel = document.getElementById("compose-preview");
  if (!panel) return;
  const form = document.getElementById("publication_form");
  const status = panel.querySelector(".compose-status");
  let timer = null;
  let sequence = 0;

  function csrfToken() {
    const field = document.querySelector("[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function formData() {
    const data = form ? new FormData(form) : new FormData();
    data.delete("csrfmiddlewaretoken");
    if (panel.dataset.objectId) data.set("object_id", panel.dataset.objectId);
    const as = document.getElementById("preview-subscriber");
    if (as && as.value.trim()) data.set("preview_subscriber", as.value.trim());
    return data;
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  }

  async function refresh() {
    const mine = ++sequence;
    status.textContent = "updating…";
    panel.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(panel.dataset.previewUrl, {
        method: "POST",
        body: formData(),
        headers: { "X-CSRFToken": csrfToken() },
        credentials: "same-origin",
      });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const preview = await response.json();
      if (mine !== sequence) return; // a newer request is on its way
      show(preview);
      status.textContent = "up to date";
    } catch (error) {
      if (mine === sequence) status.textContent = "preview failed: " + error.message;
    } finally {
      if (mine === sequence) panel.removeAttribute("aria-busy");
    }
  }

  function slot(name) {
    return panel.querySelector('[data-preview="' + name + '"]');
  }

  // One renderer per preview style; each channel kind's adapter names its style (`preview`).
  const renderers = {
    email(kind, part) {
      slot(kind).srcdoc = part.html;
      slot(kind + "-text").textContent = part.text;
    },
    slack(kind, part) {
      slot(kind + "-json").textContent = JSON.stringify(part, null, 2);
      renderSlack(slot(kind), part);
    },
    discord(kind, part) {
      slot(kind + "-json").textContent = JSON.stringify(part, null, 2);
      renderDiscord(slot(kind), part);
    },
    json(kind, part) {
      slot(kind).textContent = JSON.stringify(part, null, 2);
    },
  };

  function show(preview) {
    let subject = null;
    for (const pane of panel.querySelectorAll("[data-preview-style]")) {
      const kind = pane.dataset.previewKind;
      const style = pane.dataset.previewStyle;
      if (!preview[kind]) continue;
      (renderers[style] || renderers.json)(kind, preview[kind]);
      if (style === "email" && subject === null) subject = preview[kind].subject;
    }
    slot("subject").textContent = subject || "";
    const problems = slot("problems");
    problems.replaceChildren(...(preview.problems || []).map((p) => element("li", "", p)));
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function escapeHtml(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }

  function safeUrl(url) {
    return /^https?:\/\//i.test(url) ? url : "#";
  }

  // Slack mrkdwn: text arrives with & < > already escaped by Slack's rules.
  function slackMarkup(mrkdwn) {
    let html = String(mrkdwn).replace(/"/g, "&quot;");
    html = html.replace(/&lt;(https?:\/\/[^|&]+?)\|([^&]*?)&gt;|<(https?:\/\/[^|>]+)\|([^>]*)>/g, function (_, u1, t1, u2, t2) {
      return '<a href="' + safeUrl(u1 || u2) + '" target="_blank" rel="noopener">' + (t1 || t2) + "</a>";
    });
    html = html.replace(/<(https?:\/\/[^>|]+)>/g, (_, u) => '<a href="' + safeUrl(u) + '" target="_blank" rel="noopener">' + u + "</a>");
    html = html.replace(/```([\s\S]*?)```/g, "<pre>$1</pre>").replace(/`([^`]+)`/g, "<code>$1</code>");
    html = html.replace(/\*([^*\n]+)\*/g, "<strong>$1</strong>").replace(/(^|\s)_([^_\n]+)_/g, "$1<em>$2</em>");
    html = html.replace(/~([^~\n]+)~/g, "<del>$1</del>");
    return html.replace(/\n/g, "<br>");
  }

  function renderSlack(target, payload) {
    const card = element("div", "slack-message");
    for (const block of payload.blocks || []) {
      if (block.type === "header") card.append(element("div", "slack-header", block.text.text));
      else if (block.type === "section") {
        const section = element("div", "slack-section");
        section.innerHTML = slackMarkup(block.text.text); // built from escaped text only
        card.append(section);
      } else if (block.type === "actions") {
        const row = element("div", "slack-actions");
        for (const button of block.elements || []) {
          const link = element("a", "slack-button" + (button.style === "danger" ? " danger" : ""), button.text.text);
          link.href = safeUrl(button.url || "");
          link.target = "_blank";
          link.rel = "noopener";
          row.append(link);
        }
        card.append(row);
      } else if (block.type === "context") {
        card.append(element("div", "slack-context", (block.elements || []).map((e) => e.text).join(" ")));
      } else if (block.type === "divider") card.append(element("hr"));
    }
    target.replaceChildren(element("div", "slack-fallback", "Notification: " + (payload.text || "")), card);
  }

  function discordMarkup(markdown) {
    let html = escapeHtml(markdown);
    html = html.replace(/\[([^\]]+)\]\((https?:\/\/[^)\s]+)\)/g, (_, t, u) => '<a href="' + safeUrl(u.replace(/&amp;/g, "&")) + '" target="_blank" rel="noopener">' + t + "</a>");
    html = html.replace(/```([\s\S]*?)```/g, "<pre>$1</pre>").replace(/`([^`]+)`/g, "<code>$1</code>");
    html = html.replace(/\*\*([^*\n]+)\*\*/g, "<strong>$1</strong>").replace(/\*([^*\n]+)\*/g, "<em>$1</em>");
    html = html.replace(/~~([^~\n]+)~~/g, "<del>$1</del>");
    return html.replace(/\n/g, "<br>");
  }

  function renderDiscord(target, payload) {
    const nodes = [];
    if (payload.content) {
      const content = element("div", "discord-content");
      content.innerHTML = discordMarkup(payload.content);
      nodes.push(content);
    }
    for (const embed of payload.embeds || []) {
      const card = element("div", "discord-embed");
      card.style.borderLeftColor = "#" + Number(embed.color || 0).toString(16).padStart(6, "0");
      const title = element("a", "discord-title", embed.title || "");
      title.href = safeUrl(embed.url || "");
      title.target = "_blank";
      title.rel = "noopener";
      const description = element("div", "discord-description");
      description.innerHTML = discordMarkup(embed.description || "");
      card.append(title, description);
      if (embed.footer) card.append(element("div", "discord-footer", embed.footer.text));
      nodes.push(card);
    }
    target.replaceChildren(...nodes);
  }

  // Tabs (WAI-ARIA pattern: arrow keys move between tabs).
  const tabs = Array.from(panel.querySelectorAll('[role="tab"]'));
  function select(tab) {
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
    }
  }
  tabs.forEach((tab, index) => {
    tab.tabIndex = index === 0 ? 0 : -1;
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(index + step + tabs.length) % tabs.length];
      select(next);
      next.focus();
    });
  });

  if (form) {
    form.addEventListener("input", schedule);
    form.addEventListener("change", schedule);
  }
  const as = document.getElementById("preview-subscriber");
  if (as) as.addEventListener("input", schedule);
  refresh();
})();
