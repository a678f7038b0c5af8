/* The publication body as a rich Markdown editor (EasyMDE, vendored in static/vendor/easymde/,
   no CDN): toolbar, keyboard shortcuts, and images uploaded by drag, paste or the picker.
   Each image asks for its alt text before it is inserted; the upload endpoint checks, resizes
   and stores the file and answers its absolute URL (emails are read away from the site). */
(function () {
  "use strict";
  const textarea = document.querySelector("textarea.compose-body");
  if (!textarea || typeof EasyMDE === "undefined") return;
  const uploadUrl = textarea.dataset.uploadUrl;

  function csrfToken() {
    const field = document.querySelector("[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  // Markdown image text: brackets in the alt text would end it early.
  function altText(fileName) {
    const answer = window.prompt(
      "Describe the image for readers who cannot see it (alt text). Leave blank only for decoration.",
      "",
    );
    return (answer === null ? "" : answer).replace(/[\[\]\\]/g, "").replace(/\s+/g, " ").trim();
  }

  let editor = null;

  async function upload(file, onSuccess, onError) {
    const data = new FormData();
    data.append("file", file);
    let answer = {};
    try {
      const response = await fetch(uploadUrl, {
        method: "POST",
        body: data,
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
        credentials: "same-origin",
      });
      answer = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(answer.message || "HTTP " + response.status);
    } catch (error) {
      onError("#image_name#: " + error.message);
      return;
    }
    const alt = altText(file.name);
    editor.options.insertTexts.uploadedImage = ["![" + alt + "](#url#)", ""];
    onSuccess(answer.url);
  }

  // Text labels, not an icon font: nothing is fetched from elsewhere. [name, EasyMDE action, label, title]
  const toolbar = [
    ["bold", "toggleBold", "B", "Bold"], ["italic", "toggleItalic", "I", "Italic"],
    ["heading", "toggleHeadingSmaller", "H", "Heading"], "|",
    ["quote", "toggleBlockquote", "“ ”", "Quote"], ["unordered-list", "toggleUnorderedList", "• List", "Bulleted list"],
    ["ordered-list", "toggleOrderedList", "1. List", "Numbered list"], "|",
    ["link", "drawLink", "Link", "Link"],
    ["upload-image", "drawUploadedImage", "Image…", "Upload an image (or drop or paste one)"],
    ["horizontal-rule", "drawHorizontalRule", "—", "Divider"], "|",
    ["undo", "undo", "Undo", "Undo"], ["redo", "redo", "Redo", "Redo"], "|",
    ["preview", "togglePreview", "Preview", "Preview the Markdown"],
  ].map((b) => (b === "|" ? b : { name: b[0], action: EasyMDE[b[1]], text: b[2], title: b[3] }));
  editor = new EasyMDE({
    element: textarea,
    autoDownloadFontAwesome: false,
    spellChecker: false,
    nativeSpellcheck: true,
    forceSync: true,
    minHeight: "320px",
    status: ["upload-image", "lines", "words"],
    uploadImage: true,
    imageUploadFunction: upload,
    imageAccept: "image/png, image/jpeg, image/gif, image/webp",
    imageMaxSize: Number(textarea.dataset.uploadMaxBytes || 10485760),
    errorCallback: (message) => window.alert(message),
    toolbar,
  });

  // The live per-channel preview (compose.js) listens for input on the form.
  editor.codemirror.on("change", () => {
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  });
})();
