// Search page: start Pagefind's UI (pagefind/ is written by publish.py after
// the build). External file only: the CSP forbids inline script.
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  var el = document.getElementById("search");
  if (!el || typeof window.PagefindUI !== "function") {
    if (el) {
      el.textContent = "搜索索引尚未生成。Search index not available.";
    }
    return;
  }
  // The site may live under a sub-path: result URLs are relative to the
  // directory holding pagefind/, not to the host's root.
  var bundle = el.getAttribute("data-bundle");
  var base = new URL(bundle, window.location.href).pathname.replace(/pagefind\/$/, "");
  var ui = new window.PagefindUI({
    element: "#search",
    bundlePath: bundle,
    baseUrl: base,
    showSubResults: false,
    showImages: false,
    resetStyles: false,
    translations: { placeholder: "搜索 Search", zero_results: "没有找到 [SEARCH_TERM] · No results" }
  });
  var q = new URLSearchParams(window.location.search).get("q");
  if (q) {
    ui.triggerSearch(q);
  }
});
