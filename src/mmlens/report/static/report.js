/* mmlens report: leaderboard sorting, category charts (Vega-Lite / Vega) and the sample browser.
   Everything it needs is inlined in the page: it makes no network requests. */
(function () {
  "use strict";

  var started = performance.now();
  var DATA = JSON.parse(document.getElementById("mmlens-data").textContent);
  var IMAGES = null; // parsed on first use: the thumbnails can be most of the page
  var PAGE_SIZE = 50;
  var PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2",
                 "#eeca3b", "#ff9da6", "#9d755d", "#79706e", "#2f6fdf", "#8c564b"];
  var OUTCOME_LABELS = {right: "right", wrong: "wrong", failed: "extraction failed", error: "error", scored: "scored"};
  var state = window.mmlens = {ready: false, timings: {dataParsed: performance.now() - started}};

  function images() {
    if (IMAGES === null) IMAGES = JSON.parse(document.getElementById("mmlens-images").textContent);
    return IMAGES;
  }
  function modelColor(label) {
    var i = DATA.models.indexOf(label);
    return PALETTE[(i < 0 ? 0 : i) % PALETTE.length];
  }
  function fmt(v) {
    if (v === null || v === undefined || typeof v !== "number" || isNaN(v)) return "n/a";
    return Math.abs(v) <= 1 ? v.toFixed(4) : v.toFixed(2);
  }
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "text") node.textContent = value;
        else if (key === "class") node.className = value;
        else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
        else node.setAttribute(key, value === true ? "" : value);
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      if (Array.isArray(child)) child.forEach(function (c) { if (c) node.appendChild(c); });
      else node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }
  function thumbnail(index, className) {
    var b64 = images()[index];
    if (!b64) return el("span", {class: "no-image", title: "no thumbnail in the store"}, "no image");
    return el("img", {class: className, src: "data:image/jpeg;base64," + b64, alt: "image " + index});
  }

  document.querySelectorAll(".swatch[data-model]").forEach(function (node) {
    node.style.background = modelColor(node.getAttribute("data-model"));
  });

  /* ---------------------------------------------------------------- leaderboard */
  (function leaderboard() {
    var table = document.getElementById("leaderboard-table");
    if (!table) return;
    var headers = Array.prototype.slice.call(table.querySelectorAll("thead th"));
    headers.forEach(function (th, column) {
      th.addEventListener("click", function () {
        var numeric = th.getAttribute("data-kind") === "num";
        var current = th.getAttribute("aria-sort");
        var direction = current === "none" ? (numeric ? "descending" : "ascending")
          : (current === "descending" ? "ascending" : "descending");
        headers.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", direction);
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var sign = direction === "ascending" ? 1 : -1;
        rows.sort(function (a, b) {
          var va = a.cells[column].getAttribute("data-value");
          var vb = b.cells[column].getAttribute("data-value");
          if (numeric) {
            var na = va === "" ? null : parseFloat(va), nb = vb === "" ? null : parseFloat(vb);
            if (na === null && nb === null) return 0;
            if (na === null) return 1; // missing values last in either direction
            if (nb === null) return -1;
            return sign * (na - nb);
          }
          return sign * va.localeCompare(vb);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
    // A cell with several runs (reruns of one model, variant and task): the chosen run's value is
    // shown, and sorting uses it.
    Array.prototype.forEach.call(table.querySelectorAll("select.cell-runs"), function (select) {
      select.addEventListener("click", function (event) { event.stopPropagation(); });
      select.addEventListener("change", function () {
        var cell = select.closest("td");
        Array.prototype.forEach.call(cell.querySelectorAll(".cell-choice"), function (choice) {
          var shown = choice.getAttribute("data-run") === select.value;
          choice.hidden = !shown;
          if (shown) {
            cell.setAttribute("data-run", select.value);
            cell.setAttribute("data-value", choice.getAttribute("data-value"));
          }
        });
      });
    });
  })();

  /* ---------------------------------------------------------------- charts */
  function seriesNames(task) {
    var labels = task.runs.map(function (r) { return DATA.runs[r].label; });
    var names = {};
    task.runs.forEach(function (r, i) {
      var label = labels[i];
      var duplicate = labels.indexOf(label) !== labels.lastIndexOf(label);
      names[r] = (duplicate ? label + " · " + DATA.runs[r].id.slice(-10) : label) +
        (DATA.runs[r].incomplete ? " (incomplete)" : "");
    });
    return names;
  }
  function nodeLabels(task, depth) {
    var nodes = task.nodes.filter(function (n) { return n.depth === depth; });
    var leaves = nodes.map(function (n) { return n.path.split("/").pop(); });
    return nodes.map(function (n, i) {
      var leaf = leaves[i];
      return leaves.indexOf(leaf) === leaves.lastIndexOf(leaf) ? leaf : n.path;
    });
  }
  function chartRows(task, depth) {
    var names = seriesNames(task), labels = nodeLabels(task, depth), rows = [], k = 0;
    task.nodes.forEach(function (node, index) {
      if (node.depth !== depth) return;
      var label = labels[k++];
      task.values[index].forEach(function (v) {
        rows.push({category: label, path: node.path, model: names[v[0]], value: v[1], lo: v[2], hi: v[3], n: v[4],
                   shown: fmt(v[1]), interval: v[2] === null ? "" : "[" + fmt(v[2]) + ", " + fmt(v[3]) + "]"});
      });
    });
    return rows;
  }
  function colorScale(task) {
    var names = seriesNames(task);
    var domain = task.runs.map(function (r) { return names[r]; });
    return {domain: domain, range: task.runs.map(function (r) { return modelColor(DATA.runs[r].label); })};
  }
  function valueDomain(rows) {
    var max = 0, min = 0;
    rows.forEach(function (r) { max = Math.max(max, r.hi === null ? r.value : r.hi, r.value); min = Math.min(min, r.value); });
    return min >= 0 && max <= 1 ? [0, 1] : null;
  }
  function barSpec(task, depth, width) {
    var rows = chartRows(task, depth);
    var colors = colorScale(task);
    var domain = valueDomain(rows);
    var x = {field: "value", type: "quantitative", title: task.primary,
             scale: domain ? {domain: domain} : {zero: true, nice: true}};
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      width: Math.max(260, width - 190),
      height: {step: Math.max(10, 16 - task.runs.length)},
      data: {values: rows},
      config: {view: {stroke: null}, axis: {labelFontSize: 11.5, titleFontSize: 12, gridColor: "#eef1f4"},
               legend: {labelFontSize: 12}},
      encoding: {
        y: {field: "category", type: "nominal", sort: null, title: null,
            axis: {labelLimit: 200, domain: false, ticks: false, labelPadding: 6}},
        yOffset: {field: "model", sort: colors.domain},
        color: {field: "model", type: "nominal", scale: colors, title: null,
                legend: task.runs.length > 1 ? {orient: "top", direction: "horizontal"} : null},
        tooltip: [{field: "path", title: "category"}, {field: "model"}, {field: "shown", title: task.primary},
                  {field: "interval", title: "95% CI"}, {field: "n", title: "n"}]
      },
      layer: [
        {mark: {type: "bar", cornerRadiusEnd: 2, opacity: 0.9}, encoding: {x: x}},
        {mark: {type: "rule", color: "#243040", strokeWidth: 1.2},
         encoding: {x: {field: "lo", type: "quantitative"}, x2: {field: "hi"}, color: {value: "#243040"}}},
        {mark: {type: "tick", color: "#243040", thickness: 1.2, size: 6, orient: "vertical"},
         encoding: {x: {field: "lo", type: "quantitative"}, color: {value: "#243040"}}},
        {mark: {type: "tick", color: "#243040", thickness: 1.2, size: 6, orient: "vertical"},
         encoding: {x: {field: "hi", type: "quantitative"}, color: {value: "#243040"}}}
      ]
    };
  }
  function radarSpec(task, depth, size) {
    var rows = chartRows(task, depth).map(function (r) { return {key: r.category, series: r.model, value: r.value, shown: r.shown, n: r.n}; });
    var colors = colorScale(task);
    var max = 0;
    rows.forEach(function (r) { max = Math.max(max, r.value); });
    var top = max <= 1 ? 1 : max;
    var keys = [];
    rows.forEach(function (r) { if (keys.indexOf(r.key) < 0) keys.push(r.key); });
    var rings = [];
    [0.25, 0.5, 0.75, 1].forEach(function (f) { keys.forEach(function (k) { rings.push({level: f * top, key: k}); }); });
    var radius = size / 2;
    return {
      $schema: "https://vega.github.io/schema/vega/v6.json",
      width: size, height: size,
      padding: {left: 90, right: 90, top: 28, bottom: task.runs.length > 1 ? 28 + 22 * Math.ceil(task.runs.length / 2) : 28},
      autosize: {type: "none", contains: "content"},
      signals: [{name: "radius", value: radius}],
      data: [
        {name: "table", values: rows},
        {name: "keys", values: keys.map(function (k) { return {key: k}; })},
        {name: "rings", values: rings}
      ],
      scales: [
        {name: "angular", type: "point", range: {signal: "[-PI, PI]"}, padding: 0.5, domain: keys},
        {name: "radial", type: "linear", range: {signal: "[0, radius]"}, zero: true, nice: false, domain: [0, top]},
        {name: "color", type: "ordinal", domain: colors.domain, range: colors.range}
      ],
      encode: {enter: {x: {signal: "radius"}, y: {signal: "radius"}}},
      legends: task.runs.length > 1 ? [{fill: "color", orient: "none", legendX: {signal: "-radius - 60"}, legendY: {signal: "radius + 26"},
                                        direction: "horizontal", columns: 2, labelFontSize: 11.5, labelLimit: 200}] : [],
      marks: [
        {type: "group", from: {facet: {data: "rings", name: "ring", groupby: ["level"]}}, zindex: 0,
         marks: [{type: "line", from: {data: "ring"}, encode: {enter: {
           interpolate: {value: "linear-closed"},
           x: {signal: "scale('radial', datum.level) * cos(scale('angular', datum.key))"},
           y: {signal: "scale('radial', datum.level) * sin(scale('angular', datum.key))"},
           stroke: {value: "#dfe4ea"}, strokeWidth: {value: 1}}}}]},
        {type: "rule", from: {data: "keys"}, zindex: 0, encode: {enter: {
          x: {value: 0}, y: {value: 0},
          x2: {signal: "radius * cos(scale('angular', datum.key))"},
          y2: {signal: "radius * sin(scale('angular', datum.key))"},
          stroke: {value: "#dfe4ea"}, strokeWidth: {value: 1}}}},
        {type: "group", name: "profiles", zindex: 1, from: {facet: {data: "table", name: "facet", groupby: ["series"]}},
         marks: [
           {type: "line", name: "profile", from: {data: "facet"}, encode: {enter: {
             interpolate: {value: "linear-closed"},
             x: {signal: "scale('radial', datum.value) * cos(scale('angular', datum.key))"},
             y: {signal: "scale('radial', datum.value) * sin(scale('angular', datum.key))"},
             stroke: {scale: "color", field: "series"}, strokeWidth: {value: 2},
             fill: {scale: "color", field: "series"}, fillOpacity: {value: 0.12}}}},
           {type: "symbol", from: {data: "facet"}, encode: {enter: {
             x: {signal: "scale('radial', datum.value) * cos(scale('angular', datum.key))"},
             y: {signal: "scale('radial', datum.value) * sin(scale('angular', datum.key))"},
             size: {value: 28}, fill: {scale: "color", field: "series"},
             tooltip: {signal: "{'category': datum.key, 'model': datum.series, 'value': datum.shown, 'n': datum.n}"}}}}
         ]},
        {type: "text", from: {data: "keys"}, zindex: 2, encode: {enter: {
          x: {signal: "(radius + 8) * cos(scale('angular', datum.key))"},
          y: {signal: "(radius + 8) * sin(scale('angular', datum.key))"},
          text: {field: "key"}, limit: {value: 85}, fontSize: {value: 11.5}, fill: {value: "#3e4c59"},
          align: [{test: "abs(scale('angular', datum.key)) > PI / 2 + 0.01", value: "right"},
                  {test: "abs(abs(scale('angular', datum.key)) - PI / 2) < 0.01", value: "center"}, {value: "left"}],
          baseline: [{test: "scale('angular', datum.key) > 0.01", value: "top"},
                     {test: "scale('angular', datum.key) < -0.01", value: "bottom"}, {value: "middle"}]}}},
        {type: "text", from: {data: "rings"}, zindex: 2, encode: {enter: {
          x: {value: 3}, y: {signal: "-scale('radial', datum.level)"},
          text: {signal: "datum.key === data('keys')[0].key ? format(datum.level, '.2~f') : ''"},
          fontSize: {value: 9.5}, fill: {value: "#9aa5b1"}, baseline: {value: "bottom"}}}}
      ]
    };
  }
  function depthsOf(task) {
    var counts = {};
    task.nodes.forEach(function (n) { counts[n.depth] = (counts[n.depth] || 0) + 1; });
    return Object.keys(counts).map(Number).sort(function (a, b) { return a - b; })
      .map(function (d) { return {depth: d, count: counts[d]}; });
  }
  function renderCharts(taskIndex, depth) {
    var task = DATA.tasks[taskIndex];
    var bars = document.querySelector(".chart-bars[data-task-index='" + taskIndex + "'] .chart-body");
    var radar = document.querySelector(".chart-radar[data-task-index='" + taskIndex + "'] .chart-body");
    if (!bars) return Promise.resolve();
    return loadVendor().then(function () { return drawCharts(task, depth, bars, radar); }, function (error) {
      bars.textContent = "Charts unavailable: " + error.message;
    });
  }
  function drawCharts(task, depth, bars, radar) {
    var count = task.nodes.filter(function (n) { return n.depth === depth; }).length;
    var width = bars.parentNode.clientWidth || 640;
    bars.classList.remove("placeholder");
    bars.textContent = "";
    var options = {renderer: "svg", actions: false, tooltip: {theme: "light"}};
    var jobs = [vegaEmbed(bars, barSpec(task, depth, width), options)];
    radar.textContent = "";
    if (count >= 3) {
      radar.classList.remove("placeholder");
      var size = Math.max(160, Math.min(280, (radar.parentNode.clientWidth || 400) - 190));
      jobs.push(vegaEmbed(radar, radarSpec(task, depth, size), options));
    } else {
      radar.classList.add("placeholder");
      radar.textContent = "The capability radar needs at least 3 categories at this level.";
    }
    return Promise.all(jobs).then(function () {
      bars.parentNode.setAttribute("data-rendered-depth", String(depth));
    }).catch(function (error) {
      bars.textContent = "chart failed: " + error;
    });
  }
  // The charting libraries travel gzipped (see build.py): unpack and run them once.
  var vendorLoaded = null;
  function loadVendor() {
    if (vendorLoaded) return vendorLoaded;
    vendorLoaded = new Promise(function (resolve, reject) {
      if (typeof vegaEmbed !== "undefined") { resolve(); return; }
      var node = document.getElementById("mmlens-vendor");
      if (!node || typeof DecompressionStream === "undefined") {
        reject(new Error("this browser cannot unpack the charting library (it needs DecompressionStream)"));
        return;
      }
      var binary = atob(node.textContent.trim());
      var bytes = new Uint8Array(binary.length);
      for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
      var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
      new Response(stream).text().then(function (code) {
        var script = document.createElement("script");
        script.textContent = code;
        document.head.appendChild(script);
        if (typeof vegaEmbed === "undefined") throw new Error("the charting library did not load");
        resolve();
      }).catch(reject);
    });
    return vendorLoaded;
  }

  var chartQueue = [];
  function setupCharts() {
    document.querySelectorAll(".chart-toolbar").forEach(function (toolbar) {
      var index = Number(toolbar.getAttribute("data-task-index"));
      var task = DATA.tasks[index];
      var depths = depthsOf(task);
      if (!depths.length) return;
      var initial = depths.filter(function (d) { return d.count >= 2; })[0] || depths[0];
      var holder = toolbar.querySelector(".level-buttons");
      depths.forEach(function (d) {
        var button = el("button", {type: "button", "data-depth": d.depth, class: d.depth === initial.depth ? "active" : "",
                                   title: d.count + " categories",
                                   onclick: function () {
                                     holder.querySelectorAll("button").forEach(function (b) { b.classList.remove("active"); });
                                     button.classList.add("active");
                                     renderCharts(index, d.depth);
                                   }}, String(d.depth));
        holder.appendChild(button);
      });
      chartQueue.push({index: index, depth: initial.depth, done: false});
    });
    var pending = chartQueue.slice();
    function run(job) {
      if (job.done) return Promise.resolve();
      job.done = true;
      return renderCharts(job.index, job.depth);
    }
    // Charts in view first, the rest one at a time when the page is idle: the page stays responsive.
    if ("IntersectionObserver" in window) {
      var observer = new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
          if (!entry.isIntersecting) return;
          var index = Number(entry.target.getAttribute("data-task-index"));
          observer.unobserve(entry.target);
          pending.forEach(function (job) { if (job.index === index) run(job); });
        });
      }, {rootMargin: "300px"});
      document.querySelectorAll(".chart-bars").forEach(function (node) { observer.observe(node); });
    }
    var idle = window.requestIdleCallback || function (f) { return setTimeout(f, 30); };
    function drain() {
      var job = pending.filter(function (j) { return !j.done; })[0];
      if (!job) {
        state.timings.chartsRendered = performance.now();
        state.chartsReady = true;
        return;
      }
      run(job).then(function () { idle(drain); });
    }
    idle(drain);
  }

  /* ---------------------------------------------------------------- sample browser */
  var browser = {
    task: "", run: -1, category: "", outcome: -1, query: "", idSet: null, idSetRuns: null, page: 0, rows: [], open: {}
  };
  var order = buildOrder();
  var byTaskAndId = null;

  // Rows (run, position), grouped by task, then sample (in data order), then model: the answers of
  // several models to one sample sit together.
  function buildOrder() {
    var result = {};
    DATA.tasks.forEach(function (task) {
      var sampleOrder = {}, next = 0, entries = [];
      task.runs.forEach(function (r) {
        var ids = DATA.runs[r].columns.id;
        for (var i = 0; i < ids.length; i++) {
          var key = ids[i];
          if (!(key in sampleOrder)) sampleOrder[key] = next++;
          entries.push([sampleOrder[key], r, i]);
        }
      });
      entries.sort(function (a, b) { return a[0] - b[0] || a[1] - b[1]; });
      var flat = new Int32Array(entries.length * 2);
      entries.forEach(function (e, k) { flat[2 * k] = e[1]; flat[2 * k + 1] = e[2]; });
      result[task.name] = flat;
    });
    return result;
  }
  function sameSample(task) {
    if (byTaskAndId === null) byTaskAndId = {};
    if (!byTaskAndId[task]) {
      var map = {};
      DATA.runs.forEach(function (run, r) {
        if (run.task !== task) return;
        run.columns.id.forEach(function (id, i) { (map[id] = map[id] || []).push([r, i]); });
      });
      byTaskAndId[task] = map;
    }
    return byTaskAndId[task];
  }
  function categoryMatcher() {
    if (!browser.category) return null;
    var node = browser.category, prefix = node + "/";
    return DATA.categories.map(function (c) { return c === node || c.slice(0, prefix.length) === prefix; });
  }
  // The text of a prompt (every text part of every message) and its question (the text of the last
  // user message), worked out once per distinct prompt.
  var promptTexts = {}, questionTexts = {};
  function partsText(message) {
    return (message.content || []).filter(function (p) { return p.type === "text"; })
      .map(function (p) { return p.text; }).join("\n");
  }
  function promptText(index) {
    if (promptTexts[index] === undefined) {
      promptTexts[index] = (DATA.prompts[index] || []).map(partsText).join("\n");
    }
    return promptTexts[index];
  }
  function questionText(index) {
    if (questionTexts[index] === undefined) {
      var users = (DATA.prompts[index] || []).filter(function (m) { return m.role === "user"; });
      questionTexts[index] = users.length ? partsText(users[users.length - 1]) : "";
    }
    return questionTexts[index];
  }
  var lowerPrompts = {};
  function textMatches(run, i, query) {
    var c = run.columns;
    var found = [c.id[i], c.response[i], c.answer[i], c.target[i]].some(function (v) {
      return v !== null && v !== undefined && String(v).toLowerCase().indexOf(query) >= 0;
    });
    if (found) return true;
    var index = c.prompt[i];
    if (lowerPrompts[index] === undefined) lowerPrompts[index] = promptText(index).toLowerCase();
    return lowerPrompts[index].indexOf(query) >= 0;
  }
  function applyFilters() {
    var tasks = browser.task ? [browser.task] : DATA.tasks.map(function (t) { return t.name; });
    var cats = categoryMatcher();
    var query = browser.query.trim().toLowerCase();
    var counts = DATA.outcomes.map(function () { return 0; });
    var rows = [];
    tasks.forEach(function (name) {
      var flat = order[name];
      for (var k = 0; k < flat.length; k += 2) {
        var r = flat[k], i = flat[k + 1];
        if (browser.run >= 0 && r !== browser.run) continue;
        if (browser.idSetRuns && browser.idSetRuns.indexOf(r) < 0) continue;
        var run = DATA.runs[r], c = run.columns;
        if (cats && (c.cat[i] < 0 || !cats[c.cat[i]])) continue;
        if (browser.idSet && !browser.idSet.has(c.id[i])) continue;
        if (query && !textMatches(run, i, query)) continue;
        counts[c.outcome[i]]++;
        if (browser.outcome >= 0 && c.outcome[i] !== browser.outcome) continue;
        rows.push(r, i);
      }
    });
    browser.rows = rows;
    browser.counts = counts;
    var pages = Math.max(1, Math.ceil(rows.length / 2 / PAGE_SIZE));
    if (browser.page >= pages) browser.page = pages - 1;
  }

  function fillSelect(select, options, value) {
    select.textContent = "";
    options.forEach(function (o) {
      select.appendChild(el("option", {value: o.value, selected: String(o.value) === String(value)}, o.label));
    });
  }
  function renderFilterOptions() {
    fillSelect(document.getElementById("filter-task"),
      [{value: "", label: "All tasks"}].concat(DATA.tasks.map(function (t) { return {value: t.name, label: t.name}; })),
      browser.task);
    var runOptions = [{value: -1, label: "All models"}];
    DATA.runs.forEach(function (run, r) {
      if (browser.task && run.task !== browser.task) return;
      runOptions.push({value: r, label: browser.task ? run.label : run.label + " · " + run.task});
    });
    fillSelect(document.getElementById("filter-run"), runOptions, browser.run);
    var catOptions = [{value: "", label: "All categories"}];
    categoryTree(browser.task).forEach(function (path) {
      var depth = path.split("/").length;
      catOptions.push({value: path, label: new Array(depth).join("\u2003") + path.split("/").pop()});
    });
    fillSelect(document.getElementById("filter-category"), catOptions, browser.category);
  }
  // Every node of the category paths the samples carry (of one task, or of all), in tree order.
  var treeCache = {};
  function categoryTree(task) {
    if (treeCache[task] === undefined) {
      var used = {};
      DATA.runs.forEach(function (run) {
        if (task && run.task !== task) return;
        run.columns.cat.forEach(function (c) { if (c >= 0) used[c] = true; });
      });
      var nodes = {};
      Object.keys(used).forEach(function (c) {
        var parts = DATA.categories[c].split("/");
        for (var d = 1; d <= parts.length; d++) nodes[parts.slice(0, d).join("/")] = true;
      });
      treeCache[task] = Object.keys(nodes).sort(function (a, b) {
        var pa = a.split("/"), pb = b.split("/");
        for (var i = 0; i < Math.min(pa.length, pb.length); i++) {
          if (pa[i] !== pb[i]) return pa[i] < pb[i] ? -1 : 1;
        }
        return pa.length - pb.length;
      });
    }
    return treeCache[task];
  }
  function renderChips() {
    var holder = document.getElementById("filter-outcome");
    holder.textContent = "";
    var total = browser.counts.reduce(function (a, b) { return a + b; }, 0);
    function chip(label, value, count) {
      return el("button", {type: "button", class: "chip" + (browser.outcome === value ? " active" : ""),
                           "data-outcome": value < 0 ? "all" : DATA.outcomes[value],
                           disabled: value >= 0 && count === 0 && browser.outcome !== value,
                           onclick: function () { browser.outcome = value; browser.page = 0; update(); }},
                label, el("span", {class: "count"}, count.toLocaleString("en-US")));
    }
    holder.appendChild(chip("All", -1, total));
    DATA.outcomes.forEach(function (name, value) {
      if (name === "scored" && browser.counts[value] === 0) return;
      holder.appendChild(chip(OUTCOME_LABELS[name], value, browser.counts[value]));
    });
  }
  function renderActiveSet() {
    var box = document.getElementById("active-set");
    box.textContent = "";
    if (!browser.idSet) { box.hidden = true; return; }
    box.hidden = false;
    box.appendChild(el("span", null, browser.idSetLabel));
    box.appendChild(el("button", {type: "button", onclick: function () {
      browser.idSet = null; browser.idSetRuns = null; browser.page = 0; update();
    }}, "clear ✕"));
  }
  function pager(holder) {
    holder.textContent = "";
    var total = browser.rows.length / 2;
    var pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    function go(page) { return function () { browser.page = page; renderList(); }; }
    holder.appendChild(el("button", {type: "button", disabled: browser.page === 0, onclick: go(0), title: "first page"}, "«"));
    holder.appendChild(el("button", {type: "button", disabled: browser.page === 0, onclick: go(browser.page - 1), "data-page": "prev"}, "‹ Prev"));
    var jump = el("input", {type: "number", min: "1", max: String(pages), value: String(browser.page + 1),
                            class: "page-input", "aria-label": "page"});
    jump.addEventListener("change", function () {
      var page = Math.min(pages, Math.max(1, Math.round(Number(jump.value) || 1))) - 1;
      browser.page = page;
      renderList();
    });
    holder.appendChild(el("span", {class: "page-label"}, "page ", jump, " of " + pages.toLocaleString("en-US")));
    holder.appendChild(el("button", {type: "button", disabled: browser.page >= pages - 1, onclick: go(browser.page + 1), "data-page": "next"}, "Next ›"));
    holder.appendChild(el("button", {type: "button", disabled: browser.page >= pages - 1, onclick: go(pages - 1), title: "last page"}, "»"));
  }
  function promptImages(prompt) {
    var found = [];
    prompt.forEach(function (m) { (m.content || []).forEach(function (p) { if (p.type === "image") found.push(p.i); }); });
    return found;
  }
  function badge(outcome) {
    var name = DATA.outcomes[outcome];
    return el("span", {class: "badge " + name}, OUTCOME_LABELS[name]);
  }
  function scoreText(run, i) {
    var v = run.columns.value[i];
    if (v === null || v === undefined) return "—";
    return run.binary ? String(v) : fmt(v);
  }
  function renderList() {
    var body = document.getElementById("sample-rows");
    body.textContent = "";
    var total = browser.rows.length / 2;
    var start = browser.page * PAGE_SIZE, end = Math.min(total, start + PAGE_SIZE);
    document.getElementById("sample-count").textContent = total === 0 ? "No samples match the filters."
      : "Showing " + (start + 1).toLocaleString("en-US") + "–" + end.toLocaleString("en-US") + " of " +
        total.toLocaleString("en-US") + " samples";
    var fragment = document.createDocumentFragment();
    for (var k = start; k < end; k++) {
      var r = browser.rows[2 * k], i = browser.rows[2 * k + 1];
      fragment.appendChild(sampleRow(r, i));
      if (browser.open[r + ":" + i]) fragment.appendChild(detailRow(r, i));
    }
    body.appendChild(fragment);
    pager(document.getElementById("pager-top"));
    pager(document.getElementById("pager-bottom"));
  }
  function sampleRow(r, i) {
    var run = DATA.runs[r], c = run.columns;
    var prompt = DATA.prompts[c.prompt[i]] || [];
    var imgs = promptImages(prompt);
    var thumbCell = imgs.length
      ? el("span", {class: "thumb-wrap"}, thumbnail(imgs[0], "list-thumb"),
           imgs.length > 1 ? el("span", {class: "more-images"}, "+" + (imgs.length - 1)) : null)
      : el("span", {class: "no-image"}, "text");
    var key = r + ":" + i;
    var row = el("tr", {class: "sample-row" + (browser.open[key] ? " open" : ""), tabindex: "0",
                        "data-run": run.id, "data-id": c.id[i], "data-outcome": DATA.outcomes[c.outcome[i]]},
      el("td", {class: "thumb-col"}, thumbCell),
      el("td", null, el("span", {class: "sample-id"}, c.id[i]),
         el("span", {class: "sample-cat"}, c.cat[i] >= 0 ? DATA.categories[c.cat[i]] : run.task)),
      el("td", null, el("span", {class: "swatch", style: "background:" + modelColor(run.label)}), run.label),
      textCell("question", questionText(c.prompt[i]) || null),
      textCell("response", c.response[i]),
      textCell("answer", c.answer[i]),
      textCell("target", c.target[i]),
      el("td", null, badge(c.outcome[i])),
      el("td", {class: "num"}, scoreText(run, i)));
    function toggle() {
      browser.open[key] = !browser.open[key];
      renderList();
    }
    row.addEventListener("click", toggle);
    row.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); toggle(); }
    });
    return row;
  }
  function textCell(name, value) {
    var shown = value === null || value === undefined ? "—" : String(value);
    return el("td", {"data-col": name}, el("div", {class: "cell-text", title: shown}, shown));
  }
  function field(name, value) {
    return [el("dt", null, name), el("dd", null, value === null || value === undefined ? "—" : String(value))];
  }
  function renderPrompt(prompt) {
    if (!prompt.length) return el("p", {class: "muted"}, "No prompt was recorded (scored from predictions made elsewhere).");
    return el("div", null, prompt.map(function (message) {
      return el("div", {class: "message"},
        el("div", {class: "message-role"}, message.role || "message"),
        el("div", {class: "message-body"}, (message.content || []).map(function (part) {
          if (part.type === "text") return el("pre", null, part.text);
          if (part.type === "image") return thumbnail(part.i, "prompt-image");
          if (part.type === "video") {
            return el("span", {class: "media-ref"}, "video " + String(part.video).slice(0, 19) + "…" +
                      (part.subtitles ? " (with subtitles)" : ""));
          }
          return el("pre", null, JSON.stringify(part));
        })));
    }));
  }
  function valueField(run, i) {
    var v = run.columns.value[i];
    if (!run.score) return [];
    if (run.score === "correct") return field("correct", v === null || v === undefined ? null : (v >= 1 ? "yes" : "no"));
    return field("score · " + run.score, v);
  }
  var NORMALIZATIONS = {sum: "summed token log-probabilities", chars: "summed log-probability per character",
                        token_mean: "mean log-probability per token"};
  function renderOptionScores(scores) {
    function number(v) { return v === null || v === undefined ? "n/a" : v.toFixed(4); }
    return el("div", null,
      el("table", {class: "option-scores"},
        el("thead", null, el("tr", null, el("th", null, "Option"), el("th", {class: "num"}, "log-probability"),
                                  el("th", {class: "num"}, "probability (softmax)"))),
        el("tbody", null, scores.options.map(function (row, k) {
          var chosen = k === scores.chosen;
          return el("tr", {class: chosen ? "chosen" : null, "data-option": row[0]},
            el("td", null, row[0] + (chosen ? " ✓ chosen" : "")), el("td", {class: "num"}, number(row[1])),
            el("td", {class: "num"}, number(row[2])));
        }))),
      el("p", {class: "muted"}, "normalization: " + scores.normalization +
         (NORMALIZATIONS[scores.normalization] ? " (" + NORMALIZATIONS[scores.normalization] + ")" : "")));
  }
  function renderExchanges(list) {
    return el("div", {class: "exchanges"}, list.map(function (x) {
      var prompt = DATA.prompts[x.prompt] || [];
      var summary = el("summary", null, el("span", {class: "exchange-role"}, x.role),
        " · round " + x.round + " · " + x.kind + (x.cached ? " · cached" : "") + (x.error ? " · failed" : ""));
      var body = el("div", {class: "exchange-body"},
        el("h4", null, "Prompt as sent"), renderPrompt(prompt),
        x.continuation !== undefined ? [el("h4", null, "Continuation scored"), el("pre", {class: "exchange-continuation"}, x.continuation)] : null,
        el("h4", null, "Raw reply"),
        el("pre", {class: "exchange-response"}, x.response === null || x.response === undefined ? "(no reply)" : x.response),
        x.logprob !== undefined ? el("p", {class: "muted"}, "log-probability " + number(x.logprob)) : null,
        x.error !== undefined ? el("p", {class: "exchange-error"}, "error: " + x.error) : null);
      return el("details", {class: "exchange", open: list.length <= 6, "data-round": String(x.round), "data-role": x.role},
                summary, body);
    }));
    function number(v) { return v === null ? "n/a" : v.toFixed(4); }
  }
  function detailRow(r, i) {
    var run = DATA.runs[r], c = run.columns;
    var prompt = DATA.prompts[c.prompt[i]] || [];
    var imgs = promptImages(prompt);
    var fields = [].concat(
      field("target", c.target[i]),
      field("extracted answer", c.answer[i]),
      field("extraction", DATA.methods[c.method[i]]),
      field("outcome", OUTCOME_LABELS[DATA.outcomes[c.outcome[i]]]),
      valueField(run, i));
    Object.keys(run.scores).forEach(function (name) { fields = fields.concat(field(name, run.scores[name][i])); });
    if (run.errors[i] !== undefined) fields = fields.concat(field("error", run.errors[i]));
    fields = fields.concat(field("model", run.label), field("run", run.id + (run.incomplete ? " (incomplete: " + run.incomplete + ")" : "")));
    var exchanges = run.exchanges[i], optionScores = run.optionScores[i];
    var others = sameSample(run.task)[c.id[i]].filter(function (pair) { return pair[0] !== r; });
    var othersTable = others.length ? el("div", {class: "full"}, el("h4", null, "Other models on this sample"),
      el("table", {class: "others"},
        el("thead", null, el("tr", null, el("th", null, "Model"), el("th", null, "Answer"), el("th", null, "Outcome"), el("th", null, "Response"))),
        el("tbody", null, others.map(function (pair) {
          var o = DATA.runs[pair[0]], oc = o.columns, j = pair[1];
          return el("tr", null,
            el("td", null, el("span", {class: "swatch", style: "background:" + modelColor(o.label)}), o.label),
            el("td", null, oc.answer[j] === null ? "—" : String(oc.answer[j])),
            el("td", null, badge(oc.outcome[j])),
            el("td", null, el("div", {class: "cell-text"}, oc.response[j] === null ? "—" : String(oc.response[j]))));
        })))) : null;
    var content = el("div", {class: "detail-grid"},
      el("div", null, el("h4", null, imgs.length === 1 ? "Image" : "Images (" + imgs.length + ")"),
         imgs.length ? el("div", {class: "images"}, imgs.map(function (index, n) {
           return el("figure", null, thumbnail(index, "detail-image"), el("figcaption", null, "image " + (n + 1)));
         })) : el("p", {class: "muted"}, "This sample has no image.")),
      el("div", null, el("h4", null, "Scoring"), el("dl", {class: "fields"}, fields)),
      el("div", {class: "full"}, el("h4", null, "Raw response"), el("pre", {class: "response"}, c.response[i] === null ? "(no response)" : c.response[i])),
      optionScores !== undefined ? el("div", {class: "full"}, el("h4", null, "Option scores"), renderOptionScores(optionScores)) : null,
      el("div", {class: "full"}, el("h4", null, "Prompt as sent"), renderPrompt(prompt)),
      exchanges !== undefined ? el("div", {class: "full rounds"},
        el("h4", null, "Requests, round by round (" + exchanges.length + ")"), renderExchanges(exchanges)) : null,
      run.details[i] !== undefined ? el("div", {class: "full"}, el("h4", null, "Details"), el("pre", null, JSON.stringify(run.details[i], null, 2))) : null,
      othersTable);
    return el("tr", {class: "detail", "data-run": run.id, "data-id": c.id[i]}, el("td", {colspan: "9", class: "detail"}, content));
  }
  // The samples the filters show (every page), as the table has them, for download.
  var EXPORT_COLUMNS = ["task", "model", "run", "id", "category", "question", "response", "answer", "target",
                        "extraction", "outcome", "score", "error", "prompt"];
  function exportedRows() {
    var rows = [];
    for (var k = 0; k < browser.rows.length; k += 2) {
      var r = browser.rows[k], i = browser.rows[k + 1], run = DATA.runs[r], c = run.columns;
      var value = c.value[i];
      rows.push({task: run.task, model: run.label, run: run.id, id: c.id[i],
                 category: c.cat[i] >= 0 ? DATA.categories[c.cat[i]] : "",
                 question: questionText(c.prompt[i]), response: c.response[i], answer: c.answer[i], target: c.target[i],
                 extraction: DATA.methods[c.method[i]], outcome: DATA.outcomes[c.outcome[i]],
                 score: value === undefined ? null : value, error: run.errors[i] === undefined ? null : run.errors[i],
                 prompt: promptText(c.prompt[i])});
    }
    return rows;
  }
  function csvField(value) {
    if (value === null || value === undefined) return "";
    var text = typeof value === "string" ? value : (typeof value === "object" ? JSON.stringify(value) : String(value));
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }
  function exportText(format) {
    var rows = exportedRows();
    if (format === "json") return JSON.stringify(rows, null, 1) + "\n";
    return [EXPORT_COLUMNS.join(",")].concat(rows.map(function (row) {
      return EXPORT_COLUMNS.map(function (name) { return csvField(row[name]); }).join(",");
    })).join("\r\n") + "\r\n";
  }
  function download(format) {
    var blob = new Blob([exportText(format)], {type: format === "json" ? "application/json" : "text/csv"});
    var link = el("a", {href: URL.createObjectURL(blob), download: "mmlens-samples." + format});
    document.body.appendChild(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 0);
  }
  state.exportText = exportText;
  function update() {
    applyFilters();
    renderFilterOptions();
    renderChips();
    renderActiveSet();
    renderList();
  }
  function setupBrowser() {
    document.getElementById("filter-task").addEventListener("change", function (event) {
      browser.task = event.target.value; browser.run = -1; browser.category = ""; browser.page = 0; update();
    });
    document.getElementById("filter-run").addEventListener("change", function (event) {
      browser.run = Number(event.target.value); browser.page = 0; update();
    });
    document.getElementById("filter-category").addEventListener("change", function (event) {
      browser.category = event.target.value; browser.page = 0; update();
    });
    document.querySelectorAll("[data-export]").forEach(function (button) {
      button.addEventListener("click", function () { download(button.getAttribute("data-export")); });
    });
    var timer = null;
    document.getElementById("filter-query").addEventListener("input", function (event) {
      clearTimeout(timer);
      timer = setTimeout(function () { browser.query = event.target.value; browser.page = 0; update(); }, 150);
    });
    document.querySelectorAll(".flip-button").forEach(function (button) {
      button.addEventListener("click", function () {
        var comparison = DATA.comparisons[Number(button.getAttribute("data-comparison"))];
        var kind = button.getAttribute("data-flip");
        var ids = comparison.flipped[kind] || [];
        browser.task = comparison.task; browser.run = -1; browser.category = ""; browser.outcome = -1;
        browser.query = ""; document.getElementById("filter-query").value = "";
        browser.idSet = new Set(ids);
        browser.idSetRuns = [comparison.a, comparison.b];
        browser.idSetLabel = ids.length + " samples " + (kind === "right_to_wrong" ? "right in A, wrong in B" : "wrong in A, right in B") +
          " (A = " + DATA.runs[comparison.a].label + ", B = " + DATA.runs[comparison.b].label + ")";
        browser.page = 0;
        update();
        document.getElementById("samples").scrollIntoView();
      });
    });
    update();
  }

  // Served by `mmlens view`: ask the server now and then whether the store changed, and reload.
  (function live() {
    var meta = document.querySelector('meta[name="mmlens-live"]');
    if (!meta || location.protocol.indexOf("http") !== 0) return;
    var built = meta.getAttribute("content"), every = Number(meta.getAttribute("data-seconds")) || 2;
    function check() {
      fetch("/__mmlens/state", {cache: "no-store"}).then(function (response) { return response.json(); })
        .then(function (answer) {
          if (answer.state && answer.state !== built) { location.reload(); return; }
          setTimeout(check, every * 1000);
        }, function () { setTimeout(check, every * 1000); });
    }
    setTimeout(check, every * 1000);
  })();

  setupBrowser();
  state.timings.samplesRendered = performance.now();
  state.ready = true;
  document.documentElement.setAttribute("data-ready", "samples");
  setupCharts();
})();
