// url-shortener's own script: copy buttons. Everything works without it; it only adds what a
// plain form cannot do. No inline handlers: the page's Content-Security-Policy allows scripts
// from this origin only.
(function () {
  "use strict";

  function copy(button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) { return; }
    var text = target.value !== undefined && target.tagName === "INPUT" ? target.value : target.textContent;
    var done = function () {
      var status = button.parentNode.querySelector(".copy-status");
      if (status) { status.textContent = "Copied"; }
      button.classList.add("copied");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text.trim()).then(done, function () { select(target); });
    } else {
      select(target);
    }
  }

  // Where the clipboard is not available (plain http on a non-local host), select the text so
  // the person can copy it with a keystroke.
  function select(target) {
    var range = document.createRange();
    range.selectNodeContents(target);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // Copy buttons are hidden until this script runs: without it they could not work.
  function reveal(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (b) { b.hidden = false; });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (button) { copy(button); }
  });
  document.addEventListener("DOMContentLoaded", function () { reveal(document); });
  // Fragments swapped in by htmx carry their own buttons.
  document.addEventListener("htmx:afterSwap", function (event) { reveal(event.target); });
})();
