"""The map's hover layer as a widget that also answers clicks: clicking a company on the map
selects it in the company panel; clicking a sector (the sector view) drills down to it.

The layer is the SVG `ParkMap.hover_svg` writes (an invisible shape per company, flow, pipe and
contract, each with its tooltip), laid over the map image. A plain HTML widget cannot report a
click back to Python; this Vue template finds the company under the pointer (`data-company` on
its circle) and calls `vue_pick` with its index, or the sector (`data-sector`) and calls
`vue_pick_sector` with its name.
"""

from __future__ import annotations

import ipyvuetify as v
import traitlets

TEMPLATE = """
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


class MapLayer(v.VuetifyTemplate):
    template = traitlets.Unicode(TEMPLATE).tag(sync=True)
    svg = traitlets.Unicode("").tag(sync=True)
    on_pick = traitlets.Callable(None, allow_none=True)
    on_sector = traitlets.Callable(None, allow_none=True)

    def vue_pick(self, index) -> None:
        if self.on_pick is not None:
            self.on_pick(int(index))

    def vue_pick_sector(self, name) -> None:
        if self.on_sector is not None:
            self.on_sector(str(name))
