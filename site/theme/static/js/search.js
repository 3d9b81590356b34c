// Search page: the form, results and facet filters over the static index
// search/index/ (format szzz-search/v2, read by sitesearch.js; see
// docs/site-search.md). External file only: the CSP forbids inline script.
//
// A certificate number, USCC or GTIN is an exact lookup (Index.find): the
// record first, or a plain "no such certificate", never look-alikes. Each
// result shows its status (colour, symbol and words, the site's .status
// classes) and one readable line; an excerpt of the searched text only when
// a query term is found nowhere that line shows.
//
// Every text shown comes from the registry and is attacker-controlled: the
// results are built with DOM APIs and textContent only, never innerHTML.
(function () {
  "use strict";

  var PAGE_SIZE = 20;
  var DEBOUNCE_MS = 150;
  var EXCERPT_BEFORE = 24;   // code points of context before the first match
  var EXCERPT_LENGTH = 90;   // code points shown at most
  // What an exact lookup that found nothing says (docs/site-search.md, Exact lookups).
  var NOT_FOUND = {
    cert: ["无此证书", "No such certificate",
      "本平台登记的证书中没有这个编号。请核对编号；如有商家以此编号宣传认证，可能是假冒，请举报。",
      "No certificate with this number is registered. Check the number; a seller using it may be " +
      "using a counterfeit mark: please report it."],
    uscc: ["无此企业", "No such enterprise",
      "没有统一社会信用代码为此号码的获证企业。",
      "No certified enterprise has this unified social credit code."],
    gtin: ["无此产品", "No such product",
      "没有商品条码（GTIN）为此号码的获证产品。",
      "No certified product has this GTIN."]
  };
  var FOUND = {
    cert: ["证书编号", "certificate number"],
    uscc: ["统一社会信用代码", "USCC"],
    gtin: ["商品条码", "GTIN"]
  };
  // Facets in the order of facets.json's lists (docs/site-search.md, Files).
  var FACETS = [
    ["kind", "类型", "Kind"],
    ["status", "证书状态", "Status"],
    ["district", "地区", "District"],
    ["body", "认证机构", "Certification body"],
    ["programme", "认证项目", "Programme"]
  ];

  var S = window.SzzzSearch;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function en(text) {
    return el("span", { lang: "en" }, [text]);
  }

  // ------------------------------------------------------------ highlighting
  // Matches are found in the normalised text (what the index searched) and
  // mapped back to the original characters: each code point is normalised
  // on its own, which is close enough to show where a term is.
  function mapped(text) {
    var chars = Array.from(text);
    var norm = "";
    var owner = [];  // UTF-16 index in norm -> index in chars
    chars.forEach(function (ch, i) {
      var n = S.normalize(ch);
      norm += n;
      for (var k = 0; k < n.length; k++) {
        owner.push(i);
      }
    });
    return { chars: chars, norm: norm, owner: owner };
  }

  var WORD = /[\p{L}\p{N}]/u;

  function isWordAt(s, i) {
    if (i < 0 || i >= s.length) {
      return false;
    }
    var cp = s.codePointAt(i);
    if (cp >= 0xdc00 && cp <= 0xdfff && i > 0) {
      cp = s.codePointAt(i - 1);
    }
    return !S.isHan(cp) && WORD.test(String.fromCodePoint(cp));
  }

  // Ranges [start, end) of code points of `text` where query terms occur,
  // sorted and merged. Word terms must start at a word boundary (and end at
  // one, except the prefix); Han terms match anywhere.
  function matchRanges(m, terms, prefix) {
    var ranges = [];
    terms.forEach(function (term) {
      if (!term) {
        return;
      }
      var han = S.isHan(term.codePointAt(0));
      var from = 0;
      var at;
      while ((at = m.norm.indexOf(term, from)) !== -1) {
        var end = at + term.length;
        from = at + 1;
        if (!han && (isWordAt(m.norm, at - 1) ||
            (term !== prefix && isWordAt(m.norm, end)))) {
          continue;
        }
        ranges.push([m.owner[at], m.owner[end - 1] + 1]);
      }
    });
    ranges.sort(function (a, b) { return a[0] - b[0] || a[1] - b[1]; });
    var merged = [];
    ranges.forEach(function (r) {
      var last = merged[merged.length - 1];
      if (last && r[0] <= last[1]) {
        last[1] = Math.max(last[1], r[1]);
      } else {
        merged.push([r[0], r[1]]);
      }
    });
    return merged;
  }

  // Append chars[start, end) to `parent` with the ranges wrapped in <mark>.
  function appendMarked(parent, chars, ranges, start, end) {
    var pos = start;
    ranges.forEach(function (r) {
      var a = Math.max(r[0], start);
      var b = Math.min(r[1], end);
      if (a >= b) {
        return;
      }
      if (a > pos) {
        parent.appendChild(document.createTextNode(chars.slice(pos, a).join("")));
      }
      parent.appendChild(el("mark", {}, [chars.slice(a, b).join("")]));
      pos = b;
    });
    if (pos < end) {
      parent.appendChild(document.createTextNode(chars.slice(pos, end).join("")));
    }
  }

  function marked(tag, attrs, text, terms, prefix) {
    var m = mapped(text);
    var node = el(tag, attrs);
    appendMarked(node, m.chars, matchRanges(m, terms, prefix), 0, m.chars.length);
    return node;
  }

  // An excerpt of `text` around the first match, the matches marked.
  function excerpt(text, terms, prefix) {
    var m = mapped(text);
    var ranges = matchRanges(m, terms, prefix);
    var n = m.chars.length;
    var start = ranges.length ? Math.max(0, ranges[0][0] - EXCERPT_BEFORE) : 0;
    var end = Math.min(n, start + EXCERPT_LENGTH);
    start = Math.max(0, Math.min(start, end - EXCERPT_LENGTH));
    var p = el("p", { "class": "search-excerpt" },
      [el("span", { "class": "search-excerpt-label" }, ["匹配 ", en("Match"), "："])]);
    if (start > 0) {
      p.appendChild(document.createTextNode("…"));
    }
    appendMarked(p, m.chars, ranges, start, end);
    if (end < n) {
      p.appendChild(document.createTextNode("…"));
    }
    return p;
  }

  // ------------------------------------------------------------ the page
  function SearchPage(root) {
    this.root = root;
    this.form = root.querySelector("form");
    this.input = root.querySelector("input[type=search]");
    this.count = root.querySelector("#search-count");
    this.filters = root.querySelector("#search-filters");
    this.results = root.querySelector("#search-results");
    this.more = root.querySelector("#search-more");
    this.notFound = root.querySelector("#search-none");
    this.notFoundText = root.querySelector("#search-none-text");
    this.index = new S.Index(root.getAttribute("data-index"));
    // Result URLs are site-relative: the site root is two levels above
    // search/index/ (the site may be served under a sub-path).
    this.siteRoot = new URL("../../", this.index.baseUrl).href;
    this.selected = {};   // facet name -> {value index: true}
    this.run = 0;         // number of the latest search; older ones are dropped
    this.gen = 0;         // number of the latest drawing of the results
    this.state = null;    // {q, ids, terms, prefix, shown}
    this.timer = null;
  }

  SearchPage.prototype.setState = function (state, q) {
    this.root.setAttribute("data-state", state);
    this.root.setAttribute("data-query", q);
  };

  SearchPage.prototype.start = function () {
    var self = this;
    this.form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      self.schedule(0);
    });
    this.input.addEventListener("input", function () {
      self.schedule(DEBOUNCE_MS);
    });
    this.more.addEventListener("click", function () {
      self.showMore(true);
    });
    this.filters.addEventListener("change", function (ev) {
      var box = ev.target;
      if (!box || box.type !== "checkbox") {
        return;
      }
      var facet = box.getAttribute("data-facet");
      var sel = self.selected[facet] || (self.selected[facet] = {});
      if (box.checked) {
        sel[box.value] = true;
      } else {
        delete sel[box.value];
      }
      self.render(facet + "=" + box.value);
    });
    var q = new URLSearchParams(window.location.search).get("q");
    if (q) {
      this.input.value = q;
      this.search();
    }
  };

  SearchPage.prototype.schedule = function (delay) {
    var self = this;
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { self.search(); }, delay);
  };

  // Keep ?q= in the address, so a search can be bookmarked and shared.
  SearchPage.prototype.updateUrl = function (q) {
    var url = new URL(window.location.href);
    if (q) {
      url.searchParams.set("q", q);
    } else {
      url.searchParams.delete("q");
    }
    if (url.href !== window.location.href) {
      history.replaceState(history.state, "", url.href);
    }
  };

  SearchPage.prototype.search = function () {
    var self = this;
    var q = this.input.value;
    var run = ++this.run;
    this.updateUrl(q.trim() ? q : "");
    var qt = S.queryTerms(q);
    this.setState("loading", q);
    Promise.all([this.index.find(q), this.index.meta(), this.index.facets()]).then(function (r) {
      if (run !== self.run) {
        return;
      }
      self.meta = r[1];
      self.docFacets = r[2];
      self.state = { q: q, ids: r[0].ids, terms: r[0].terms, prefix: qt.prefix, exact: r[0].exact,
        empty: !r[0].terms.length && !r[0].exact };
      self.render(null);
    }).catch(function (err) {
      if (run !== self.run) {
        return;
      }
      self.state = null;
      self.gen += 1;
      self.results.textContent = "";
      self.filters.textContent = "";
      self.filters.hidden = true;
      self.notFound.hidden = true;
      self.more.hidden = true;
      self.count.textContent = "搜索索引无法加载，请稍后再试。Search index could not be loaded; please try again later.";
      self.setState("error", q);
      if (window.console) {
        window.console.warn(err);
      }
    });
  };

  // The results that pass every facet's selection except `skip` (AND across
  // facets, OR within one).
  SearchPage.prototype.filtered = function (skip) {
    var self = this;
    var active = FACETS.map(function (f, i) {
      var sel = self.selected[f[0]];
      return f[0] !== skip && sel && Object.keys(sel).length ? [i, sel] : null;
    }).filter(Boolean);
    if (!active.length) {
      return this.state.ids;
    }
    return this.state.ids.filter(function (id) {
      var row = self.docFacets[id];
      return active.every(function (a) {
        return row[a[0]] >= 0 && a[1][row[a[0]]] === true;
      });
    });
  };

  // Draw the count, filters and first page of results; `focusKey` is the
  // checkbox that changed (it keeps the focus when the filters are redrawn).
  SearchPage.prototype.render = function (focusKey) {
    var st = this.state;
    if (!st) {
      return;
    }
    this.gen += 1;
    this.results.textContent = "";
    this.more.hidden = true;
    if (st.empty) {
      this.filters.textContent = "";
      this.filters.hidden = true;
      this.notFound.hidden = true;
      this.count.textContent = "";
      this.setState("done", st.q);
      return;
    }
    st.visible = this.filtered(null);
    st.shown = 0;
    this.renderFilters(focusKey);
    this.renderCount();
    this.showMore(false);
  };

  SearchPage.prototype.renderCount = function () {
    var st = this.state;
    var n = st.visible.length;
    var total = st.ids.length;
    var text;
    this.notFound.hidden = true;
    if (st.exact && !total) {
      var nf = NOT_FOUND[st.exact];
      text = nf[0] + "：" + st.q.trim() + " · " + nf[1];
      this.notFoundText.textContent = "";
      this.notFoundText.appendChild(el("strong", {}, [nf[0] + " ", en(nf[1])]));
      this.notFoundText.appendChild(el("br"));
      this.notFoundText.appendChild(document.createTextNode(nf[2] + " "));
      this.notFoundText.appendChild(en(nf[3]));
      this.notFound.hidden = false;
    } else if (st.exact && n === total) {
      var f = FOUND[st.exact];
      text = "按" + f[0] + "精确查找：" + total + " 条 · Exact " + f[1] + " match: " + total;
    } else if (!total) {
      text = "没有找到“" + st.q.trim() + "”的结果 · No results for “" + st.q.trim() + "”";
    } else if (n === total) {
      text = "找到 " + total + " 条结果 · " + total + (total === 1 ? " result" : " results");
    } else {
      text = "找到 " + total + " 条结果，筛选后显示 " + n + " 条 · " + n + " of " + total +
        " results (filtered)";
    }
    this.count.textContent = text;
  };

  SearchPage.prototype.renderFilters = function (focusKey) {
    var self = this;
    var st = this.state;
    this.filters.textContent = "";
    // Collapsible (a phone shows the results first); open on wide screens,
    // then as the visitor left it.
    if (this.filtersOpen === undefined) {
      this.filtersOpen = window.matchMedia("(min-width: 48rem)").matches;
    }
    var box = el("details", { "class": "search-filters-box" });
    box.open = this.filtersOpen;
    box.addEventListener("toggle", function () { self.filtersOpen = box.open; });
    var nSelected = 0;
    Object.keys(this.selected).forEach(function (k) {
      nSelected += Object.keys(self.selected[k]).length;
    });
    box.appendChild(el("summary", {}, ["筛选 ", en("Filter"),
      nSelected ? " (" + nSelected + ")" : ""]));
    var groups = 0;
    FACETS.forEach(function (f, fi) {
      var name = f[0];
      var values = (self.meta.facets && self.meta.facets[name]) || [];
      var sel = self.selected[name] || {};
      var counts = {};
      self.filtered(name).forEach(function (id) {
        var v = self.docFacets[id][fi];
        if (v >= 0) {
          counts[v] = (counts[v] || 0) + 1;
        }
      });
      var shown = values.map(function (v, vi) { return vi; }).filter(function (vi) {
        return counts[vi] || sel[vi];
      });
      // A facet with a single value and nothing selected filters nothing.
      if (!shown.length || (shown.length === 1 && !sel[shown[0]] &&
          counts[shown[0]] === st.visible.length)) {
        return;
      }
      groups += 1;
      var fs = el("fieldset", { "class": "search-facet", "data-facet": name },
        [el("legend", {}, [f[1] + " ", en(f[2])])]);
      var ul = el("ul", {});
      shown.forEach(function (vi) {
        var v = values[vi];
        var id = "facet-" + name + "-" + vi;
        var box = el("input", { type: "checkbox", id: id, value: String(vi), "data-facet": name });
        box.checked = !!sel[vi];
        var label = el("label", { "for": id }, [
          String(v[1]) + " ",
          en(String(v[2] || "")),
          " ",
          el("span", { "class": "search-facet-count" }, ["(" + (counts[vi] || 0) + ")"])
        ]);
        ul.appendChild(el("li", {}, [box, label]));
      });
      fs.appendChild(ul);
      box.appendChild(fs);
    });
    if (groups) {
      this.filters.appendChild(box);
    }
    this.filters.hidden = groups === 0;
    if (focusKey) {
      var parts = focusKey.split("=");
      var again = document.getElementById("facet-" + parts[0] + "-" + parts[1]);
      if (again) {
        again.focus();
      }
    }
  };

  // Append the next PAGE_SIZE results (fetching only their docs chunks).
  SearchPage.prototype.showMore = function (moveFocus) {
    var self = this;
    var st = this.state;
    var gen = this.gen;
    var ids = st.visible.slice(st.shown, st.shown + PAGE_SIZE);
    if (!ids.length) {
      this.setState("done", st.q);
      return;
    }
    this.setState("loading", st.q);
    this.more.disabled = true;
    this.index.docs(ids).then(function (docs) {
      if (gen !== self.gen) {
        return;  // a newer search or filter redrew the list meanwhile
      }
      var first = null;
      docs.forEach(function (d) {
        var li = self.result(d, st);
        first = first || li;
        self.results.appendChild(li);
      });
      st.shown += ids.length;
      self.more.disabled = false;
      self.more.hidden = st.shown >= st.visible.length;
      if (moveFocus && first) {
        var link = first.querySelector("a") || first;
        link.focus();
      }
      self.setState("done", st.q);
    }).catch(function (err) {
      if (gen !== self.gen) {
        return;
      }
      self.more.disabled = false;
      self.count.textContent = "搜索索引无法加载，请稍后再试。Search index could not be loaded; please try again later.";
      self.setState("error", st.q);
      if (window.console) {
        window.console.warn(err);
      }
    });
  };

  // The page's URL, or null when the index's URL would leave the site.
  SearchPage.prototype.href = function (url) {
    try {
      var abs = new URL(String(url), this.siteRoot);
      return abs.href.lastIndexOf(this.siteRoot, 0) === 0 ? abs.href : null;
    } catch (e) {
      return null;
    }
  };

  // The document's value of facet `name` as [value, zh, en], or null.
  SearchPage.prototype.facetValue = function (id, name) {
    var fi = FACETS.map(function (f) { return f[0]; }).indexOf(name);
    var v = this.docFacets[id] ? this.docFacets[id][fi] : -1;
    var values = (this.meta.facets && this.meta.facets[name]) || [];
    return v >= 0 && values[v] ? values[v] : null;
  };

  SearchPage.prototype.result = function (d, st) {
    var li = el("li", { "class": "search-result" });
    var heading = el("h2", { "class": "search-result-title" });
    var href = this.href(d.url);
    var title = marked(href ? "a" : "span", href ? { href: href } : {}, String(d.title), st.terms,
      st.prefix);
    heading.appendChild(title);
    li.appendChild(heading);
    var kind = this.facetValue(d.id, "kind");
    var status = this.facetValue(d.id, "status");
    var line = el("p", { "class": "search-sub" });
    if (status) {
      // The site's status badge: colour, symbol (CSS ::before) and words.
      var value = String(status[0]).replace(/[^a-z_]/g, "");
      line.appendChild(el("span", { "class": "status status-" + value },
        [String(status[1]) + " ", en(String(status[2]))]));
      line.appendChild(document.createTextNode(" "));
    } else if (kind) {
      line.appendChild(el("span", { "class": "search-kind" }, [String(kind[1])]));
      line.appendChild(document.createTextNode(" "));
    }
    // The line's fields; a number field (certificate number, USCC) is kept on
    // one line (.cert-no), like everywhere else on the site.
    String(d.sub || "").split(" · ").forEach(function (field, i) {
      if (i > 0) {
        line.appendChild(document.createTextNode(" · "));
      }
      var m = mapped(field);
      var holder = /^[A-Z0-9]+(-[A-Z0-9]+)*$/.test(field) && /[0-9]/.test(field) ?
        line.appendChild(el("span", { "class": "cert-no" })) : line;
      appendMarked(holder, m.chars, matchRanges(m, st.terms, st.prefix), 0, m.chars.length);
    });
    li.appendChild(line);
    // An excerpt only when some term is nowhere in the title or that line.
    var shown = String(d.title) + " " + String(d.sub || "");
    var hidden = st.terms.filter(function (t) {
      return !matchRanges(mapped(shown), [t], st.prefix).length;
    });
    if (d.text && hidden.length) {
      li.appendChild(excerpt(String(d.text), hidden, st.prefix));
    }
    return li;
  };

  function init() {
    var root = document.getElementById("search");
    if (!root) {
      return;
    }
    if (!S || !root.querySelector("input[type=search]")) {
      root.setAttribute("data-state", "error");
      var msg = root.querySelector("#search-count") || root;
      msg.textContent = "搜索无法启动。Search could not start.";
      return;
    }
    var pageObj = new SearchPage(root);
    root.szzzSearch = pageObj;
    pageObj.start();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
