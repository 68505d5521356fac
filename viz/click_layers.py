"""HTML layers that report clicks back to Python, for the live page: the map's hover layer
(clicking a company selects it, clicking a sector drills down to it) and the charts (clicking a
legend entry hides or shows its line).

A plain HTML widget cannot call back; these Vue templates find what was clicked by a data
attribute on it (`data-company`, `data-sector`, `data-line`) and call the widget's `vue_*`
method with its value.
"""

from __future__ import annotations

import ipyvuetify as v
import traitlets

MAP_TEMPLATE = """
<template>
  <div class="park-map-hover" v-html="svg" @click="clicked"></div>
</template>
<script>
module.exports = {
  methods: {
    clicked(event) {
      const find = (name) => (event.target && event.target.closest ? event.target.closest("[" + name + "]") : null);
      const company = find("data-company");
      const sector = find("data-sector");
      if (company) {
        this.pick(Number(company.getAttribute("data-company")));
      } else if (sector) {
        this.pick_sector(sector.getAttribute("data-sector"));
      }
    },
  },
};
</script>
"""

CHARTS_TEMPLATE = """
<template>
  <div class="park-charts" v-html="html" @click="clicked" @mouseover="readout"></div>
</template>
<script>
module.exports = {
  methods: {
    clicked(event) {
      const hit = event.target && event.target.closest ? event.target.closest("[data-line]") : null;
      if (hit) {
        this.toggle(hit.getAttribute("data-line"));
      }
    },
    readout(event) {
      // A strip's read-out is built the first time the pointer enters it (viz.svg_chart).
      const col = event.target && event.target.closest ? event.target.closest(".ts-col") : null;
      if (!col || col.querySelector(".ts-tip")) {
        return;
      }
      const ns = "http://www.w3.org/2000/svg";
      const make = (tag, attrs) => {
        const el = document.createElementNS(ns, tag);
        for (const k in attrs) { el.setAttribute(k, attrs[k]); }
        return el;
      };
      const [hx, tx, y0, y1, w, h] = col.getAttribute("data-box").split(",").map(Number);
      const tip = make("g", {class: "ts-tip"});
      tip.appendChild(make("path", {d: "M" + hx + "," + y1 + "V" + y0}));
      tip.appendChild(make("rect", {x: tx, y: y1 + 1, width: w, height: h, rx: 3}));
      const text = make("text", {y: y1});
      for (const row of col.getAttribute("data-tip").split("\\n")) {
        const line = make("tspan", {x: tx + 5, dy: 11});
        line.textContent = row;
        text.appendChild(line);
      }
      tip.appendChild(text);
      col.appendChild(tip);
    },
  },
};
</script>
"""


class MapLayer(v.VuetifyTemplate):
    """The map's hover layer (`ParkMap.hover_svg` or `SectorMap.hover_svg`), laid over its image."""

    template = traitlets.Unicode(MAP_TEMPLATE).tag(sync=True)
    svg = traitlets.Unicode("").tag(sync=True)
    on_pick = traitlets.Callable(None, allow_none=True)
    on_sector = traitlets.Callable(None, allow_none=True)

    def vue_pick(self, index) -> None:
        if self.on_pick is not None:
            self.on_pick(int(index))

    def vue_pick_sector(self, name) -> None:
        if self.on_sector is not None:
            self.on_sector(str(name))


class ChartsLayer(v.VuetifyTemplate):
    """The chart panels (`LiveSession.charts_html`); a legend entry's click toggles its line."""

    template = traitlets.Unicode(CHARTS_TEMPLATE).tag(sync=True)
    html = traitlets.Unicode("").tag(sync=True)
    on_toggle = traitlets.Callable(None, allow_none=True)

    def vue_toggle(self, line) -> None:
        if self.on_toggle is not None:
            self.on_toggle(str(line))
