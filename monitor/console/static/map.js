// The live map: the edges' numbers from /map/events (Server-Sent Events), without a reload.
"use strict";
(function () {
  const table = document.querySelector("#edges tbody");
  const updated = document.getElementById("updated");
  function cell(row, cls, text) {
    row.querySelector("." + cls).textContent = text;
  }
  function rowFor(edge) {
    let row = table.querySelector('tr[data-key="' + CSS.escape(edge.key) + '"]');
    if (!row) {
      row = document.createElement("tr");
      row.dataset.key = edge.key;
      const name = document.createElement("td");
      name.textContent = edge.source + " → " + edge.target;
      row.appendChild(name);
      for (const cls of ["count", "rate", "errors", "p50", "p95"]) {
        const td = document.createElement("td");
        td.className = "num " + cls;
        row.appendChild(td);
      }
      table.appendChild(row);
    }
    return row;
  }
  const source = new EventSource("/map/events");
  source.addEventListener("edges", function (event) {
    const data = JSON.parse(event.data);
    const seen = new Set();
    for (const edge of data.edges) {
      seen.add(edge.key);
      const row = rowFor(edge);
      cell(row, "count", String(edge.count));
      cell(row, "rate", String(edge.per_second));
      cell(row, "errors", (edge.error_ratio * 100).toFixed(1) + " %");
      cell(row, "p50", edge.p50_ms === null ? "" : String(edge.p50_ms));
      cell(row, "p95", edge.p95_ms === null ? "" : String(edge.p95_ms));
    }
    for (const line of document.querySelectorAll("#map line.link")) {
      const edge = data.edges.find((e) => e.key === line.dataset.key);
      line.classList.toggle("busy", Boolean(edge));
      line.classList.toggle("failing", Boolean(edge && edge.error_ratio > 0.05));
    }
    for (const row of table.querySelectorAll("tr")) {
      if (!seen.has(row.dataset.key)) row.remove();
    }
    updated.textContent = data.at;
  });
})();
