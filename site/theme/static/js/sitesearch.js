// The static search index `szzz-search/v2` in the browser (docs/site-search.md
// is the contract; registry/publish/sitesearch.py writes the files and searches them
// the same way in Python; docs/vectors/site-search.json checks both).
//
// Plain script, no modules or build step: exposes window.SzzzSearch =
// {normalize, terms, queryTerms, shardOf, keyShardOf, identifier,
// decodePostings, Index}.
// Nothing about the query leaves the page: only index files, the same for
// every visitor, are fetched.
(function () {
  "use strict";

  var FORMAT = "szzz-search/v2";
  var HAS = Object.prototype.hasOwnProperty;
  // A term may be any string, "__proto__" and "constructor" included: look
  // terms up as own properties only.
  function own(obj, key) {
    return HAS.call(obj, key);
  }

  // Spec, Terms: NFKC, then lower case (full-width ＳＺＺＺ -> szzz).
  function normalize(s) {
    return String(s).normalize("NFKC").toLowerCase();
  }

  // Spec, Terms: Han = U+3400–U+4DBF, U+4E00–U+9FFF, U+F900–U+FAFF.
  function isHan(cp) {
    return (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x4e00 && cp <= 0x9fff) ||
      (cp >= 0xf900 && cp <= 0xfaff);
  }

  var WORD_CHAR = /^[\p{L}\p{N}]$/u;

  // Split normalised text into tokens {han: bool, chars: [code point strings],
  // end: index in code points after the token}. Everything that is neither a
  // Han character nor a letter/digit separates tokens.
  function scan(norm) {
    var tokens = [];
    var cur = null;
    var i = 0;
    for (var ch of norm) {
      var cp = ch.codePointAt(0);
      var kind = isHan(cp) ? "han" : (WORD_CHAR.test(ch) ? "word" : null);
      if (kind === null) {
        cur = null;
      } else {
        if (cur === null || cur.kind !== kind) {
          cur = { kind: kind, chars: [], end: 0 };
          tokens.push(cur);
        }
        cur.chars.push(ch);
        cur.end = i + 1;
      }
      i += 1;
    }
    return tokens;
  }

  function addUnique(list, seen, term) {
    if (!own(seen, term)) {
      seen[term] = true;
      list.push(term);
    }
  }

  // The terms of a text (spec, Terms), each once, in order of first
  // appearance: each Han character and each pair of adjacent Han characters,
  // each word.
  function terms(s) {
    var out = [];
    var seen = Object.create(null);
    scan(normalize(s)).forEach(function (tok) {
      if (tok.kind === "word") {
        addUnique(out, seen, tok.chars.join(""));
        return;
      }
      for (var i = 0; i < tok.chars.length; i++) {
        addUnique(out, seen, tok.chars[i]);
        if (i + 1 < tok.chars.length) {
          addUnique(out, seen, tok.chars[i] + tok.chars[i + 1]);
        }
      }
    });
    return out;
  }

  // The terms of a query (spec, Query): {terms: [terms every result has],
  // prefix: the last word when it has ≥ 2 characters and only spaces follow
  // it (results have a term starting with it), else null}. A Han run of two
  // or more characters gives only its pairs.
  function queryTerms(q) {
    var norm = normalize(q);
    var tokens = scan(norm);
    var exact = [];
    var seen = Object.create(null);
    var prefix = null;
    var last = tokens.length ? tokens[tokens.length - 1] : null;
    if (last && last.kind === "word" && last.chars.length >= 2) {
      var rest = Array.from(norm).slice(last.end).join("");
      if (/^ *$/.test(rest)) {
        prefix = last.chars.join("");
        tokens = tokens.slice(0, -1);
      }
    }
    tokens.forEach(function (tok) {
      if (tok.kind === "word" || tok.chars.length === 1) {
        addUnique(exact, seen, tok.chars.join(""));
        return;
      }
      for (var i = 0; i + 1 < tok.chars.length; i++) {
        addUnique(exact, seen, tok.chars[i] + tok.chars[i + 1]);
      }
    });
    return { terms: exact, prefix: prefix };
  }

  // FNV-1a (32-bit) over the code points of `text`, at most `limit` of them.
  function fnv1a(text, limit) {
    var h = 0x811c9dc5;
    var n = 0;
    for (var ch of text) {
      if (n === limit) {
        break;
      }
      h = Math.imul(h ^ ch.codePointAt(0), 0x01000193) >>> 0;
      n += 1;
    }
    return h;
  }

  // Spec, Shard of a term: FNV-1a (32-bit) over the code points of the first
  // two characters, modulo S.
  function shardOf(term, shards) {
    return fnv1a(term, 2) % shards;
  }

  // Spec, Exact lookups: FNV-1a over every code point of the key, modulo K.
  function keyShardOf(key, shards) {
    return fnv1a(key, Infinity) % shards;
  }

  // Spec, Exact lookups: the shapes of a certificate number, a USCC and a
  // GTIN after normalize() (ASCII digits only: [0-9], never \d).
  var DASH = "[\\-\u2010-\u2015\u2212 ]+";
  var CERT_NO = new RegExp("^([a-z]{4,5})" + DASH + "([0-9]{4})" + DASH + "([a-z0-9]{2,8})" +
    DASH + "([0-9]{5})$");
  var USCC = /^[0-9]{8}[0-9a-hj-npqrtuwxy]{10}$/;
  var GTIN = /^(?:[0-9]{8}|[0-9]{12,14})$/;

  // {kind: "cert" | "uscc" | "gtin", key: "kind:value"} when the whole query
  // (spaces around it ignored) is a certificate number, a USCC or a GTIN;
  // else null.
  function identifier(q) {
    var text = normalize(q).replace(/^ +| +$/g, "");
    var m = CERT_NO.exec(text);
    if (m) {
      return { kind: "cert", key: "cert:" + m.slice(1).join("-") };
    }
    if (USCC.test(text)) {
      return { kind: "uscc", key: "uscc:" + text };
    }
    if (GTIN.test(text)) {
      return { kind: "gtin", key: "gtin:" + "00000000000000".slice(text.length) + text };
    }
    return null;
  }

  // Posting lists are delta-encoded: the first number, then differences.
  function decodePostings(deltas) {
    var out = new Array(deltas.length);
    var acc = 0;
    for (var i = 0; i < deltas.length; i++) {
      acc += deltas[i];
      out[i] = acc;
    }
    return out;
  }

  function intersect(a, b) {
    var out = [];
    var i = 0;
    var j = 0;
    while (i < a.length && j < b.length) {
      if (a[i] === b[j]) {
        out.push(a[i]);
        i += 1;
        j += 1;
      } else if (a[i] < b[j]) {
        i += 1;
      } else {
        j += 1;
      }
    }
    return out;
  }

  function union(lists) {
    var all = Object.create(null);
    var out = [];
    lists.forEach(function (list) {
      list.forEach(function (n) {
        if (!all[n]) {
          all[n] = true;
          out.push(n);
        }
      });
    });
    return out.sort(function (x, y) { return x - y; });
  }

  // An index published at baseUrl (a directory URL, relative to the page).
  // Files are fetched when first needed and kept in memory.
  function Index(baseUrl) {
    var base = new URL(String(baseUrl), window.location.href);
    if (!/\/$/.test(base.pathname)) {
      base.pathname += "/";
    }
    this.baseUrl = base.href;
    this._files = Object.create(null);
  }

  Index.prototype._json = function (name) {
    var files = this._files;
    if (!own(files, name)) {
      var url = new URL(name, this.baseUrl).href;
      files[name] = fetch(url, { credentials: "same-origin" }).then(function (resp) {
        if (!resp.ok) {
          throw new Error("search index: " + url + " answered HTTP " + resp.status +
            ", expected 200");
        }
        return resp.json();
      }).catch(function (err) {
        delete files[name]; // a later search may try again
        throw err;
      });
    }
    return files[name];
  };

  // meta.json, checked to be the format this script reads.
  Index.prototype.meta = function () {
    return this._json("meta.json").then(function (meta) {
      if (!meta || meta.format !== FORMAT) {
        throw new Error("search index: format " + JSON.stringify(meta && meta.format) +
          ", expected " + JSON.stringify(FORMAT));
      }
      return meta;
    });
  };

  // facets.json: one [kind, status, district, body, programme] list of
  // indexes into meta.facets per document, -1 where a facet does not apply.
  Index.prototype.facets = function () {
    return this._json("facets.json");
  };

  Index.prototype._shard = function (k) {
    return this._json("terms-" + k + ".json");
  };

  // Resolve to {ids: ascending document numbers, terms: the query's terms
  // (the prefix last)}. No terms: no search, {ids: [], terms: []}.
  Index.prototype.search = function (q) {
    var self = this;
    var qt = queryTerms(q);
    var all = qt.terms.slice();
    if (qt.prefix !== null) {
      all.push(qt.prefix);
    }
    if (!all.length) {
      return Promise.resolve({ ids: [], terms: [] });
    }
    return this.meta().then(function (meta) {
      return Promise.all(all.map(function (term) {
        return self._shard(shardOf(term, meta.shards));
      }));
    }).then(function (shards) {
      var lists = qt.terms.map(function (term, i) {
        return own(shards[i], term) ? decodePostings(shards[i][term]) : [];
      });
      if (qt.prefix !== null) {
        var shard = shards[shards.length - 1];
        var matching = [];
        Object.keys(shard).forEach(function (term) {
          if (term.lastIndexOf(qt.prefix, 0) === 0) {
            matching.push(decodePostings(shard[term]));
          }
        });
        lists.push(union(matching));
      }
      // Shortest first: the intersection never grows.
      lists.sort(function (a, b) { return a.length - b.length; });
      var ids = lists[0];
      for (var i = 1; i < lists.length && ids.length; i++) {
        ids = intersect(ids, lists[i]);
      }
      return { ids: ids, terms: all };
    });
  };

  // Resolve to the document numbers of exact-lookup `key`, in the order they
  // are shown (the record first, then documents about it); [] when none.
  Index.prototype.lookup = function (key) {
    var self = this;
    return this.meta().then(function (meta) {
      return self._json("keys-" + keyShardOf(key, meta.keys) + ".json");
    }).then(function (table) {
      return own(table, key) ? table[key].slice() : [];
    });
  };

  // What the search page shows: resolve to {exact: kind or null, ids, terms}.
  // An identifier is looked up exactly and nothing else is returned for it
  // (terms are still given, to mark them); any other query is a search().
  Index.prototype.find = function (q) {
    var id = identifier(q);
    if (id === null) {
      return this.search(q).then(function (r) {
        return { exact: null, ids: r.ids, terms: r.terms };
      });
    }
    var qt = queryTerms(q);
    var terms = qt.terms.slice();
    if (qt.prefix !== null) {
      terms.push(qt.prefix);
    }
    return this.lookup(id.key).then(function (ids) {
      return { exact: id.kind, ids: ids, terms: terms };
    });
  };

  // Resolve to [{id, url, title, sub, text}] for the given document numbers,
  // in the given order, fetching only the docs-<j>.json chunks they are in.
  Index.prototype.docs = function (ids) {
    var self = this;
    return this.meta().then(function (meta) {
      var chunks = [];
      var wanted = Object.create(null);
      ids.forEach(function (id) {
        if (!(Number.isInteger(id) && id >= 0 && id < meta.docs)) {
          throw new Error("search index: document " + id + ", expected 0 … " + (meta.docs - 1));
        }
        var j = Math.floor(id / meta.chunk);
        if (!wanted[j]) {
          wanted[j] = true;
          chunks.push(j);
        }
      });
      return Promise.all(chunks.map(function (j) {
        return self._json("docs-" + j + ".json");
      })).then(function (lists) {
        var byChunk = Object.create(null);
        chunks.forEach(function (j, n) { byChunk[j] = lists[n]; });
        return ids.map(function (id) {
          var d = byChunk[Math.floor(id / meta.chunk)][id % meta.chunk];
          return { id: id, url: d[0], title: d[1], sub: d[2], text: d[3] };
        });
      });
    });
  };

  window.SzzzSearch = {
    FORMAT: FORMAT,
    normalize: normalize,
    terms: terms,
    queryTerms: queryTerms,
    shardOf: shardOf,
    keyShardOf: keyShardOf,
    identifier: identifier,
    decodePostings: decodePostings,
    isHan: isHan,
    Index: Index
  };
})();
