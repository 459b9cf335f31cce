/* The operations dashboard: draws the figures of GET /v1/kpis as SVG charts and tables.
 * Live mode (GET /dashboard) fetches them with the session cookie, refetches on a filter change
 * and every 30 s; report mode (benefits report) reads them from the page itself.
 * Every value is placed with textContent: a dead letter's reason is text from outside. */
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  var PALETTE = ["#1f5fa8", "#e07b00", "#2e8540", "#8e44ad", "#c0392b", "#16808a", "#7f6a00"];
  var RISK = { red: "#c62828", yellow: "#e0a400", blue: "#1565c0" };
  var SKIPPED = ["held", "no_account", "suspended", "review"];
  var KINDS = ["proxy_request", "payment_review", "evidence_after_death"];
  var FUNNEL = ["opened", "silent", "liveness", "invited", "blue", "held", "resumed"];
  var numbers = new Intl.NumberFormat("en");
  var money = new Intl.NumberFormat("en", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  var compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 2 });

  // ---- small builders -------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    setAll(node, attrs);
    append(node, children);
    return node;
  }

  function svg(tag, attrs, children) {
    var node = document.createElementNS(SVG_NS, tag);
    setAll(node, attrs);
    append(node, children);
    return node;
  }

  function setAll(node, attrs) {
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = String(value);
      else node.setAttribute(key, String(value));
    });
  }

  function append(node, children) {
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
  }

  function count(value) {
    return value === null || value === undefined ? "–" : numbers.format(value);
  }

  function rate(value) {
    return value === null || value === undefined ? "–" : (value * 100).toFixed(1) + "%";
  }

  function yuan(cents) {
    return cents === null || cents === undefined ? "–" : money.format(cents / 100);
  }

  function ms(value) {
    return value === null || value === undefined ? "–" : numbers.format(value) + " ms";
  }

  // A figure a test (or a person with a screen reader) can find: data-kpi names it, data-value
  // holds the number as given, the text shows it formatted.
  function figure(tag, key, value, format) {
    return el(tag, {
      "data-kpi": key,
      "data-value": value === null || value === undefined ? "" : value,
      text: (format || count)(value),
    });
  }

  // ---- tables ---------------------------------------------------------------------------

  /* columns: [{label, cell: function(row) -> {key, value, format} | string, numeric}] */
  function table(caption, columns, rows, footer) {
    var head = el("tr", {}, columns.map(function (c) {
      return el("th", { scope: "col", class: c.numeric ? "num" : null, text: c.label });
    }));
    function line(row) {
      return el("tr", {}, columns.map(function (c, i) {
        var cell = c.cell(row);
        var tag = i === 0 ? "th" : "td";
        var node = typeof cell === "object" && cell !== null
          ? figure(tag, cell.key, cell.value, cell.format)
          : el(tag, { text: cell === null || cell === undefined ? "–" : cell });
        if (i === 0) node.setAttribute("scope", "row");
        if (c.numeric) node.classList.add("num");
        return node;
      }));
    }
    var parts = [el("caption", { text: caption }), el("thead", {}, [head]),
      el("tbody", {}, rows.map(line))];
    if (footer) parts.push(el("tfoot", {}, footer.map(line)));
    return el("div", { class: "table-wrap", tabindex: 0, role: "region", "aria-label": caption },
      [el("table", {}, parts)]);
  }

  // ---- charts ---------------------------------------------------------------------------

  function niceMax(value) {
    if (!(value > 0)) return 1;
    var step = Math.pow(10, Math.floor(Math.log10(value)));
    var nice = [1, 2, 2.5, 5, 10].map(function (m) { return m * step; });
    for (var i = 0; i < nice.length; i++) if (nice[i] >= value) return nice[i];
    return 10 * step;
  }

  function legend(series) {
    return el("ul", { class: "legend" }, series.map(function (s) {
      // A drawn swatch: the page's policy allows no inline style attribute.
      return el("li", {}, [svg("svg", { class: "swatch", viewBox: "0 0 10 10", "aria-hidden": "true" },
        [svg("rect", { width: 10, height: 10, rx: 2, fill: s.colour })]), s.name]);
    }));
  }

  function chartFrame(title, root, series) {
    var allZero = series.every(function (s) {
      return s.values.every(function (v) { return !v; });
    });
    if (allZero) title += " (all 0)";
    var id = "chart-" + Math.random().toString(36).slice(2, 10);
    root.setAttribute("role", "img");
    root.setAttribute("aria-labelledby", id);
    root.insertBefore(svg("title", { id: id, text: title }), root.firstChild);
    return el("figure", { class: "chart" }, [
      el("figcaption", { text: title }), el("div", { class: "chart-scroll" }, [root]),
      series.length > 1 ? legend(series) : null]);
  }

  /* Grouped (or stacked) vertical bars: categories along x, one bar per series. */
  function columnChart(title, categories, series, options) {
    options = options || {};
    var format = options.format || count;
    var stacked = !!options.stacked;
    var left = 64, right = 12, top = 12, bottom = 42, height = 220;
    var group = Math.max(stacked ? 0 : 14 * series.length + 10, 52);
    var width = Math.max(420, left + right + categories.length * group);
    var plot = height - top - bottom;
    var max = 0;
    categories.forEach(function (_, i) {
      var total = 0;
      series.forEach(function (s) {
        var v = s.values[i] || 0;
        total = stacked ? total + v : Math.max(total, v);
      });
      max = Math.max(max, total);
    });
    max = options.max || niceMax(max);
    var y = function (v) { return top + plot - (v / max) * plot; };
    var root = svg("svg", { viewBox: "0 0 " + width + " " + height, width: width,
      height: height, class: "chart-svg" });
    [0, 0.5, 1].forEach(function (f) {
      var v = max * f;
      root.appendChild(svg("line", { x1: left, x2: width - right, y1: y(v), y2: y(v),
        class: "grid" }));
      root.appendChild(svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end",
        class: "tick", text: format(v) }));
    });
    var step = (width - left - right) / Math.max(categories.length, 1);
    var labelEvery = Math.ceil(56 / step);
    categories.forEach(function (category, i) {
      var x0 = left + i * step + 4;
      var inner = step - 8;
      var barWidth = stacked ? inner : inner / series.length;
      var base = 0;
      series.forEach(function (s, j) {
        var v = s.values[i] || 0;
        var x = stacked ? x0 : x0 + j * barWidth;
        var yTop = stacked ? y(base + v) : y(v);
        var yBottom = stacked ? y(base) : y(0);
        base += v;
        root.appendChild(svg("rect", {
          x: x.toFixed(1), y: yTop.toFixed(1), width: Math.max(barWidth - 1, 1).toFixed(1),
          height: Math.max(yBottom - yTop, 0).toFixed(1), fill: s.colour,
        }, [svg("title", { text: category + " · " + s.name + ": " + format(s.values[i]) })]));
      });
      if (i % labelEvery === 0) {
        root.appendChild(svg("text", { x: (x0 + inner / 2).toFixed(1), y: height - bottom + 16,
          "text-anchor": "middle", class: "tick",
          text: (options.label || String)(category) }));
      }
    });
    root.appendChild(svg("line", { x1: left, x2: width - right, y1: y(0), y2: y(0),
      class: "axis" }));
    return chartFrame(title, root, series);
  }

  /* Grouped (or stacked) horizontal bars: one row per category, long labels on the left. */
  function barChart(title, categories, series, options) {
    options = options || {};
    var format = options.format || count;
    var stacked = !!options.stacked;
    var left = 190, right = 70, top = 8, width = 640;
    var row = stacked ? 22 : Math.max(10 * series.length + 8, 20);
    var height = top + categories.length * row + 24;
    var max = 0;
    categories.forEach(function (_, i) {
      var total = 0;
      series.forEach(function (s) {
        var v = s.values[i] || 0;
        total = stacked ? total + v : Math.max(total, v);
      });
      max = Math.max(max, total);
    });
    max = niceMax(max);
    var x = function (v) { return left + (v / max) * (width - left - right); };
    var root = svg("svg", { viewBox: "0 0 " + width + " " + height, width: width,
      height: height, class: "chart-svg" });
    [0, 0.5, 1].forEach(function (f) {
      root.appendChild(svg("line", { x1: x(max * f), x2: x(max * f), y1: top,
        y2: height - 20, class: "grid" }));
      root.appendChild(svg("text", { x: x(max * f), y: height - 6, "text-anchor": "middle",
        class: "tick", text: format(max * f) }));
    });
    categories.forEach(function (category, i) {
      var y0 = top + i * row + 2;
      var barHeight = stacked ? row - 6 : (row - 6) / series.length;
      var shown = category.length > 28 ? category.slice(0, 27) + "…" : category;
      root.appendChild(svg("text", { x: left - 6, y: (y0 + (row - 6) / 2 + 4).toFixed(1),
        "text-anchor": "end", class: "tick" }, [svg("title", { text: category }), shown]));
      var base = 0;
      series.forEach(function (s, j) {
        var v = s.values[i] || 0;
        var from = stacked ? x(base) : x(0);
        var to = stacked ? x(base + v) : x(v);
        var y = stacked ? y0 : y0 + j * barHeight;
        base += v;
        root.appendChild(svg("rect", {
          x: from.toFixed(1), y: y.toFixed(1), width: Math.max(to - from, 0).toFixed(1),
          height: Math.max(barHeight - 1, 1).toFixed(1),
          fill: (options.colourOf && options.colourOf(category)) || s.colour,
        }, [svg("title", { text: category + " · " + s.name + ": " + format(s.values[i]) })]));
      });
      if (!stacked && series.length === 1) {
        root.appendChild(svg("text", { x: x(series[0].values[i] || 0) + 4,
          y: (y0 + (row - 6) / 2 + 4).toFixed(1), class: "tick",
          text: format(series[0].values[i]) }));
      }
    });
    return chartFrame(title, root, series);
  }

  function named(names, colours) {
    return names.map(function (name, i) {
      return { name: name, colour: (colours && colours[name]) || PALETTE[i % PALETTE.length] };
    });
  }

  function withValues(series, rows, pick) {
    return series.map(function (s) {
      return { name: s.name, colour: s.colour,
        values: rows.map(function (r) { return pick(r, s.name); }) };
    });
  }

  function empty(text) {
    return el("p", { class: "empty", text: text || "Nothing in this range." });
  }

  function section(id, title, intro, children) {
    return el("section", { id: id, class: "group", "aria-labelledby": id + "-title" }, [
      el("h2", { id: id + "-title", text: title }),
      intro ? el("p", { class: "intro", text: intro }) : null,
    ].concat(children));
  }

  function monthLabel(month) {
    var names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
      "Dec"];
    var parts = String(month).split("-");
    return parts.length === 2 ? names[Number(parts[1]) - 1] + " " + parts[0].slice(2) : month;
  }

  function card(label, key, value, format) {
    return el("div", { class: "card" }, [
      el("span", { class: "card-label", text: label }), figure("span", key, value, format)]);
  }

  function sum(rows, pick) {
    return rows.reduce(function (total, r) { return total + (pick(r) || 0); }, 0);
  }

  // ---- the figure groups ----------------------------------------------------------------

  function headline(k) {
    var total = (k.automation || {}).total || {};
    var reviews = k.review_backlog || {};
    var paid = sum(k.money || [], function (m) {
      return m.instructions.pension.total_cents + m.instructions.arrears.total_cents;
    });
    return el("section", { class: "cards", "aria-label": "Key figures" }, [
      card("Automation rate", "headline-automation-rate", total.rate, rate),
      card("Cases closed", "headline-closed", total.closed),
      card("Open reviews", "headline-backlog-open", reviews.open),
      card("Oldest review (days)", "headline-backlog-oldest", reviews.oldest_age_days),
      card("People at risk red", "headline-risk-red", ((k.risk || {}).by_colour || {}).red || 0),
      card("Dead letters", "headline-dead-letters", sum(k.dead_letters || [],
        function (d) { return d.count; })),
      card("Paid (yuan)", "headline-paid-cents", paid, function (cents) {
        return compact.format(cents / 100);
      }),
    ]);
  }

  function automation(k) {
    var rows = k.automation.by_month;
    var charts = rows.length ? [columnChart("Automation rate by month", rows.map(
      function (r) { return r.month; }), [{ name: "rate", colour: PALETTE[0],
      values: rows.map(function (r) { return r.rate; }) }], { format: rate, max: 1,
      label: monthLabel })] : [empty()];
    var total = k.automation.total;
    return section("automation", "Automation rate",
      "Cases closed in the month that needed no human step.", charts.concat([
        table("Automation by month", [
          { label: "Month", cell: function (r) { return r.month; } },
          { label: "Closed", numeric: true,
            cell: function (r) { return { key: "automation-closed-" + r.month, value: r.closed }; } },
          { label: "Automated", numeric: true, cell: function (r) {
            return { key: "automation-automated-" + r.month, value: r.automated }; } },
          { label: "Rate", numeric: true, cell: function (r) {
            return { key: "automation-rate-" + r.month, value: r.rate, format: rate }; } },
        ], rows),
        table("Automation in the whole range", [
          { label: "Range", cell: function () { return k.from + " to " + k.to; } },
          { label: "Closed", numeric: true,
            cell: function () { return { key: "automation-closed-total", value: total.closed }; } },
          { label: "Automated", numeric: true, cell: function () {
            return { key: "automation-automated-total", value: total.automated }; } },
          { label: "Rate", numeric: true, cell: function () {
            return { key: "automation-rate-total", value: total.rate, format: rate }; } },
        ], [total]),
      ]));
  }

  function latency(k) {
    var rows = k.latency.by_event_type;
    var series = named(["p50", "p95", "p99"]);
    var delays = k.latency.reporting_delay_days;
    var delaySeries = named(["p50", "p95", "p99", "max"]);
    var types = rows.length ? [barChart("Latency by event type (ms)",
      rows.map(function (r) { return r.type; }),
      withValues(series, rows, function (r, n) { return r[n + "_ms"]; }), { format: ms })]
      : [empty()];
    var sources = delays.length ? [barChart("Reporting delay by source (days)",
      delays.map(function (r) { return r.source; }),
      withValues(delaySeries, delays, function (r, n) { return r[n]; }))] : [empty()];
    return [
      section("latency", "Latency by event type",
        "From a fact's arrival at the intake to the decision it caused.", types.concat([
          table("Latency by event type", [
            { label: "Event type", cell: function (r) { return r.type; } },
            { label: "Count", numeric: true,
              cell: function (r) { return { key: "latency-count-" + r.type, value: r.count }; } },
          ].concat(["p50", "p95", "p99"].map(function (p) {
            return { label: p + " (ms)", numeric: true, cell: function (r) {
              return { key: "latency-" + p + "-" + r.type, value: r[p + "_ms"] }; } };
          })), rows),
        ])),
      section("reporting-delay", "Reporting delay by source",
        "From a fact's occurred_on to the day the engine applied it, in days.", sources.concat([
          table("Reporting delay by source (days)", [
            { label: "Source", cell: function (r) { return r.source; } },
            { label: "Count", numeric: true,
              cell: function (r) { return { key: "delay-count-" + r.source, value: r.count }; } },
          ].concat(["p50", "p95", "p99", "max"].map(function (p) {
            return { label: p, numeric: true, cell: function (r) {
              return { key: "delay-" + p + "-" + r.source, value: r[p] }; } };
          })), delays),
        ])),
    ];
  }

  function funnel(k) {
    var rows = k.certification_funnel;
    var series = named(FUNNEL);
    var chart = rows.length ? columnChart("Certification funnel by month of opening",
      rows.map(function (r) { return r.month; }),
      withValues(series, rows, function (r, n) { return r[n]; }), { label: monthLabel })
      : empty();
    return section("funnel", "Certification funnel",
      "By month of opening: opened, certified silently or by liveness, invited (day 30), " +
      "flagged blue (day 90), held (day 120), resumed.", [chart,
        table("Certification funnel by month", [
          { label: "Month", cell: function (r) { return r.month; } },
        ].concat(FUNNEL.map(function (f) {
          return { label: f, numeric: true,
            cell: function (r) { return { key: "funnel-" + f + "-" + r.month, value: r[f] }; } };
        })), rows),
      ]);
  }

  function risk(k) {
    var colours = ["red", "yellow", "blue"];
    var series = named(colours, RISK);
    var byColour = barChart("People by risk level now", colours, [{ name: "people",
      colour: "#555", values: colours.map(function (c) { return k.risk.by_colour[c] || 0; }) }],
    { colourOf: function (c) { return RISK[c]; } });
    var rollups = [["by_prefix2", "2-digit prefix"], ["by_prefix4", "4-digit prefix"],
      ["by_region", "region (6 digits)"]];
    var top = k.risk.by_prefix2;
    var children = [byColour,
      table("People by risk level", [
        { label: "Risk", cell: function (c) { return c; } },
        { label: "People", numeric: true, cell: function (c) {
          return { key: "risk-" + c, value: k.risk.by_colour[c] || 0 }; } },
      ], colours),
      top.length ? barChart("Risk by 2-digit region prefix", top.map(function (r) {
        return r.region; }), withValues(series, top, function (r, n) { return r[n]; }),
      { stacked: true }) : empty("Nobody at risk in this range."),
    ];
    rollups.forEach(function (pair) {
      var rows = k.risk[pair[0]];
      if (!rows.length) return;
      children.push(table("Risk by " + pair[1], [
        { label: "Region", cell: function (r) { return r.region; } },
      ].concat(colours.map(function (c) {
        return { label: c, numeric: true,
          cell: function (r) { return { key: "risk-region-" + r.region + "-" + c, value: r[c] }; } };
      })), rows));
    });
    return section("risk", "Risk", "People whose risk level is red, yellow or blue now.",
      children);
  }

  function backlog(k) {
    var b = k.review_backlog;
    var kinds = KINDS.concat(Object.keys(b.by_kind).filter(function (x) {
      return KINDS.indexOf(x) < 0; }).sort());
    return section("backlog", "Review backlog",
      "Open review items: proxy requests, payments held by a check, evidence after death.", [
        el("dl", { class: "facts" }, [
          el("dt", { text: "Open items" }), figure("dd", "backlog-open", b.open),
          el("dt", { text: "Oldest item's age (days)" }),
          figure("dd", "backlog-oldest-age-days", b.oldest_age_days),
        ]),
        barChart("Open review items by kind", kinds, [{ name: "open", colour: PALETTE[1],
          values: kinds.map(function (x) { return b.by_kind[x] || 0; }) }]),
        table("Open review items by kind", [
          { label: "Kind", cell: function (x) { return x; } },
          { label: "Open", numeric: true, cell: function (x) {
            return { key: "backlog-" + x, value: b.by_kind[x] || 0 }; } },
        ], kinds),
        b.by_region.length ? table("Open review items by region", [
          { label: "Region", cell: function (r) { return r.region; } },
          { label: "Open", numeric: true, cell: function (r) {
            return { key: "backlog-region-" + r.region, value: r.count }; } },
        ], b.by_region) : empty("No open item."),
      ]);
  }

  function totals(rows, key) {
    var map = {};
    rows.forEach(function (r) { map[r[key]] = (map[r[key]] || 0) + r.count; });
    return Object.keys(map).sort().map(function (name) { return { name: name, count: map[name] }; });
  }

  function deadLetters(k) {
    var rows = k.dead_letters;
    if (!rows.length) {
      return section("dead-letters", "Dead letters", null, [
        el("p", { class: "empty" }, ["No rejected message in this range (",
          figure("span", "dead-letters-total", 0), ")."])]);
    }
    var days = totals(rows, "day");
    var sources = totals(rows, "source");
    var reasons = totals(rows, "reason");
    return section("dead-letters", "Dead letters",
      "Rejected messages by the day they were received, source and reason.", [
        columnChart("Dead letters by day", days.map(function (d) { return d.name; }),
          [{ name: "rejected", colour: RISK.red, values: days.map(function (d) {
            return d.count; }) }], { label: function (d) { return d.slice(5); } }),
        table("Dead letters by day", [
          { label: "Day", cell: function (d) { return d.name; } },
          { label: "Rejected", numeric: true, cell: function (d) {
            return { key: d.total ? "dead-letters-total" : "dead-letters-day-" + d.name,
              value: d.count }; } },
        ], days, [{ name: "Total", total: true,
          count: sum(rows, function (r) { return r.count; }) }]),
        table("Dead letters by source", [
          { label: "Source", cell: function (d) { return d.name; } },
          { label: "Rejected", numeric: true, cell: function (d) {
            return { key: "dead-letters-source-" + d.name, value: d.count }; } },
        ], sources),
        table("Dead letters by reason", [
          { label: "Reason", cell: function (d) { return d.name; } },
          { label: "Rejected", numeric: true, cell: function (d) { return d.count; } },
        ], reasons),
        table("Dead letters by day, source and reason", [
          { label: "Day", cell: function (r) { return r.day; } },
          { label: "Source", cell: function (r) { return r.source; } },
          { label: "Reason", cell: function (r) { return r.reason; } },
          { label: "Rejected", numeric: true, cell: function (r) { return count(r.count); } },
        ], rows),
      ]);
  }

  function freshness(k) {
    var rows = k.freshness;
    return section("freshness", "Data freshness",
      "Per source agency: the last event received, its occurred_on, and the lag in days.", [
        rows.length ? barChart("Lag of the last event received, by source (days)",
          rows.map(function (r) { return r.source; }), [{ name: "lag", colour: PALETTE[2],
          values: rows.map(function (r) { return r.lag_days; }) }]) : empty(),
        table("Data freshness by source", [
          { label: "Source", cell: function (r) { return r.source; } },
          { label: "Last received on", cell: function (r) { return r.last_received_on; } },
          { label: "Last occurred on", cell: function (r) { return r.last_occurred_on; } },
          { label: "Lag (days)", numeric: true, cell: function (r) {
            return { key: "freshness-lag-" + r.source, value: r.lag_days }; } },
        ], rows),
      ]);
  }

  function moneyGroup(k) {
    var rows = k.money;
    var reasons = SKIPPED.slice();
    rows.forEach(function (m) {
      Object.keys(m.skipped).sort().forEach(function (r) {
        if (reasons.indexOf(r) < 0) reasons.push(r);
      });
    });
    var paidSeries = named(["pension", "arrears"]);
    var months = rows.map(function (m) { return m.month; });
    var columns = [{ label: "Month", cell: function (m) { return m.month; } }];
    ["pension", "arrears"].forEach(function (kind) {
      columns.push({ label: kind + " count", numeric: true, cell: function (m) {
        return { key: "money-" + kind + "-count-" + m.month,
          value: m.instructions[kind].count }; } });
      columns.push({ label: kind + " total (yuan)", numeric: true, cell: function (m) {
        return { key: "money-" + kind + "-cents-" + m.month,
          value: m.instructions[kind].total_cents, format: yuan }; } });
    });
    var skippedColumns = [{ label: "Month", cell: function (m) { return m.month; } }]
      .concat(reasons.map(function (r) {
        return { label: "skipped: " + r, numeric: true, cell: function (m) {
          return { key: "skipped-" + r + "-" + m.month, value: m.skipped[r] || 0 }; } };
      })).concat([
        { label: "held for review", numeric: true, cell: function (m) {
          return { key: "held-for-review-" + m.month, value: m.held_for_review }; } },
        { label: "overpayment opened (yuan)", numeric: true, cell: function (m) {
          return { key: "overpayment-opened-cents-" + m.month,
            value: m.overpayment_opened_cents, format: yuan }; } },
        { label: "overpayment corrected (yuan)", numeric: true, cell: function (m) {
          return { key: "overpayment-corrected-cents-" + m.month,
            value: m.overpayment_corrected_cents, format: yuan }; } },
      ]);
    var skipSeries = named(reasons);
    return section("money", "Money", "Per month of the payroll run.", rows.length ? [
      columnChart("Paid per month (yuan)", months, withValues(paidSeries, rows,
        function (m, n) { return m.instructions[n].total_cents / 100; }),
      { label: monthLabel, stacked: true, format: function (v) { return count(Math.round(v)); } }),
      table("Payment instructions per month", columns, rows),
      columnChart("People skipped by the payroll, by reason", months, withValues(skipSeries,
        rows, function (m, n) { return m.skipped[n] || 0; }), { label: monthLabel }),
      table("Skipped, held for review and overpayments per month", skippedColumns, rows),
    ] : [empty("No payroll run in this range.")]);
  }

  // A group the document lacks is said to be missing rather than breaking the others.
  function guarded(id, title, key, build) {
    return function (k) {
      if (k[key] === undefined || k[key] === null) {
        return section(id, title, null, [empty("Not in these figures.")]);
      }
      return build(k);
    };
  }

  var GROUPS = [
    guarded("automation", "Automation rate", "automation", automation),
    guarded("latency", "Latency", "latency", latency),
    guarded("funnel", "Certification funnel", "certification_funnel", funnel),
    guarded("risk", "Risk", "risk", risk),
    guarded("backlog", "Review backlog", "review_backlog", backlog),
    guarded("dead-letters", "Dead letters", "dead_letters", deadLetters),
    guarded("freshness", "Data freshness", "freshness", freshness),
    guarded("money", "Money", "money", moneyGroup),
  ];

  function render(k, into) {
    var parts = [headline(k)];
    GROUPS.forEach(function (group) { parts = parts.concat(group(k)); });
    var fragment = document.createDocumentFragment();
    append(fragment, parts);
    into.replaceChildren(fragment);
  }

  function describe(k) {
    var region = k.region ? "region " + k.region : "all regions";
    return k.from + " to " + k.to + " · " + region +
      (k.as_of ? " · figures as of " + k.as_of : "");
  }

  function status(k, live) {
    var node = document.getElementById("status");
    var text = describe(k);
    if (live) text += " · updated " + new Date().toLocaleTimeString("en-GB");
    node.replaceChildren(
      el("span", { "data-kpi": "range-from", "data-value": k.from, hidden: "hidden" }),
      el("span", { "data-kpi": "range-to", "data-value": k.to, hidden: "hidden" }),
      el("span", { "data-kpi": "region", "data-value": k.region || "", hidden: "hidden" }),
      el("span", { "data-kpi": "as-of", "data-value": k.as_of, hidden: "hidden" }),
      text);
  }

  // ---- the two modes --------------------------------------------------------------------

  function showError(message, signIn) {
    var node = document.getElementById("error");
    node.replaceChildren(message || "");
    if (signIn) {
      node.appendChild(document.createTextNode(" "));
      node.appendChild(el("a", { href: "/dashboard/logout", text: "Sign in again" }));
    }
    node.hidden = !message;
  }

  function report() {
    var k = JSON.parse(document.getElementById("kpi-data").textContent);
    render(k, document.getElementById("figures"));
    status(k, false);
    document.body.dataset.state = "ready";
  }

  function live() {
    var form = document.getElementById("filters");
    var region = document.getElementById("filter-region");
    var from = document.getElementById("filter-from");
    var to = document.getElementById("filter-to");
    var sequence = 0;

    function query() {
      var params = new URLSearchParams();
      if (from.value) params.set("from", from.value);
      if (to.value) params.set("to", to.value);
      if (region.value.trim()) params.set("region", region.value.trim());
      return params.toString();
    }

    function load() {
      if (!form.checkValidity()) {
        showError("The region must be a 2-, 4- or 6-digit prefix.");
        return;
      }
      if (from.value && to.value && from.value > to.value) {
        showError("The first month must not come after the last.");
        return;
      }
      var asked = query();
      var mine = ++sequence;
      document.body.dataset.state = "loading";
      fetch("/v1/kpis" + (asked ? "?" + asked : ""), {
        credentials: "same-origin", headers: { Accept: "application/json" },
      }).then(function (response) {
        return response.json().catch(function () { return null; }).then(function (body) {
          if (!response.ok) {
            var problem = new Error((body && body.error && body.error.message) ||
              "The figures could not be loaded (" + response.status + ").");
            problem.signIn = response.status === 401;
            throw problem;
          }
          return body;
        });
      }).then(function (k) {
        if (mine !== sequence) return;
        if (!from.value) from.value = k.from;
        if (!to.value) to.value = k.to;
        render(k, document.getElementById("figures"));
        status(k, true);
        showError(null);
        document.body.dataset.query = asked;
        document.body.dataset.state = "ready";
      }).catch(function (problem) {
        if (mine !== sequence) return;
        showError(problem.message, problem.signIn);
        document.body.dataset.query = asked;
        document.body.dataset.state = "error";
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      load();
    });
    [from, to].forEach(function (input) { input.addEventListener("change", load); });
    document.getElementById("filter-reset").addEventListener("click", function () {
      region.value = "";
      from.value = "";
      to.value = "";
      load();
    });
    var seconds = Number(document.body.dataset.refreshSeconds) || 30;
    window.setInterval(load, seconds * 1000);
    load();
  }

  if (document.body.dataset.mode === "report") report();
  else if (document.body.dataset.mode === "live") live();
})();
