"""The live page's settings drawer: scenario, market, every policy lever, operations, seed
and the accounting values, each as a slider, check box, select or checked number field."""

from __future__ import annotations

import dataclasses
from typing import Any

import solara

from experiments import scenario_io
from viz import fields
from viz.session import (ACCOUNTING, MAINTENANCE_CHOICES, MECHANISMS, STRATEGIES, SYNTHETIC, TAX_LEVERS, Settings,
                          lever_label, lever_range, lever_text, operation_label, operation_range, operation_text,
                          operations_fields, policy_fields, settings_for)


@solara.component
def PolicySlider(label: str, text: str, key: str, value: float, top: float, step: float, on_value):
    with solara.Div(classes=[f"slider-{key}"], style="margin-bottom: 2px;"):
        solara.Text(f"{label}: {text}", classes=["slider-label"], style="font-size: 13px; color: #444;")
        # Rounded to the step's precision: 0.05 steps otherwise arrive as 0.15000000000000002.
        solara.SliderFloat("", value=value, min=0, max=top, step=step, thumb_label=True,
                           on_value=lambda v: on_value(round(float(v), 6)))


@solara.component
def FieldControl(key: str, kind: type, label: str, value: Any, change, slider: tuple | None = None,
                 choices: list[str] = (), note: str = ""):
    """One setting's control: a check box for a yes/no, a slider for a number (`slider` is its
    top, step and value text), a select for a choice. Classed `toggle-KEY`, `slider-KEY`,
    `choice-KEY`."""
    if kind is bool:
        with solara.Div(classes=[f"toggle-{key}"], style="margin: -6px 0 0 0;"):
            solara.Checkbox(label=label, value=bool(value), on_value=lambda v: change(bool(v)))
    elif kind in (float, int):
        top, step, text = slider
        PolicySlider(label, text, key, value, top, step, change)
    else:
        with solara.Div(classes=[f"choice-{key}"]):
            solara.Select(label, values=list(choices), value=value, on_value=change)
            if note:
                solara.Text(note, style="font-size: 11px; color: #777;")


@solara.component
def PolicyControl(name: str, kind: type, settings: Settings, on_settings):
    """The control of one policy field (`slider-carbon-tax`, `toggle-shared-vision-imitation`,
    `choice-gain-sharing`)."""
    value = settings.lever(name)
    numeric = kind in (float, int)
    FieldControl(name.replace("_", "-"), kind, lever_label(name), value,
                 lambda v: on_settings(settings.with_lever(name, v)),
                 slider=(*lever_range(name, value), lever_text(name, value)) if numeric else None,
                 choices=[] if numeric or kind is bool else [m.value for m in kind])


@solara.component
def OperationsControl(name: str, kind: type, settings: Settings, on_settings):
    """The control of one operations field (`operations.*`): `choice-maintenance`,
    `toggle-failures`, `slider-mtbf`."""
    value = settings.operation(name)
    numeric = kind in (float, int)
    FieldControl(name.replace("_", "-"), kind, operation_label(name), float(value) if numeric else value,
                 lambda v: on_settings(settings.with_operation(name, v)),
                 slider=(*operation_range(name), operation_text(name, value)) if numeric else None,
                 choices=list(MAINTENANCE_CHOICES),
                 note="Prescriptive maintenance runs from run.py: its twin simulates every stop.")


@solara.component
def NumberField(label: str, value: Any, parse, on_value, key: str, hint: str = "", disabled: bool = False):
    """A number typed in, checked by `parse` (`viz.fields`): a bad value keeps the run as it
    is and says why under the field (`.field-KEY`), in red."""
    text, set_text = solara.use_state(str(value))
    error, set_error = solara.use_state("")

    def follow():  # the value changed elsewhere (another scenario, a reset): show it
        set_text(str(value))
        set_error("")

    solara.use_effect(follow, [value])

    def submit(typed: str | None):
        typed = typed or ""
        set_text(typed)
        parsed, message = parse(typed)
        set_error(message)
        if not message and parsed != value:
            on_value(parsed)

    solara.InputText(label, value=text, on_value=submit, continuous_update=False, error=error or False,
                     message=hint or None, classes=[f"field-{key}"], disabled=disabled)


@solara.component
def Controls(settings: Settings, on_settings, problems: list[str], busy: bool):
    """The settings drawer: scenario, market, policy levers, operations, seed and the
    accounting values. A change restarts the run."""
    builtins = scenario_io.builtin_names()

    def change(**kw):
        on_settings(dataclasses.replace(settings, **kw))

    def pick_scenario(name: str):
        keep = {k: getattr(settings, k) for k in ("mechanism", "strategy", "seed", "operations")}
        on_settings(settings_for(name, settings.size, **keep))

    solara.Text("Settings", style="font-size: 18px; font-weight: 600;")
    solara.Text("A change restarts the run from day 1; the run before stays in grey on the charts.",
                style="font-size: 12px; color: #666;")
    for p in problems:
        solara.Error(p, dense=True, classes=["settings-problem"])
    with solara.Div(classes=["choice-scenario"]):
        solara.Select("Scenario", values=builtins + [SYNTHETIC], value=settings.scenario, on_value=pick_scenario,
                      disabled=busy)
    if settings.scenario == SYNTHETIC:
        NumberField("Companies in the synthetic park", settings.size, fields.parse_size,
                    lambda v: change(size=v), "size", fields.size_hint(settings.size), disabled=busy)
    with solara.Div(classes=["choice-mechanism"]):
        solara.Select("Mechanism", values=list(MECHANISMS), value=settings.mechanism,
                      on_value=lambda v: change(mechanism=v), disabled=busy)
    with solara.Div(classes=["choice-strategy"]):
        solara.Select("Bidding strategy (all companies)", values=list(STRATEGIES), value=settings.strategy,
                      on_value=lambda v: change(strategy=v), disabled=busy)
    fields_ = policy_fields()
    solara.Text("Policy: taxes and subsidies", style="font-size: 15px; font-weight: 600; margin-top: 6px;")
    for name in (f for f in fields_ if f in TAX_LEVERS):
        PolicyControl(name, fields_[name], settings, on_settings)
    solara.Text("Policy: cooperation", style="font-size: 15px; font-weight: 600; margin-top: 6px;")
    for name in (f for f in fields_ if f not in TAX_LEVERS and f not in ACCOUNTING):
        PolicyControl(name, fields_[name], settings, on_settings)
    solara.Text("Operations", style="font-size: 15px; font-weight: 600; margin-top: 6px;")
    for name, kind in operations_fields().items():
        OperationsControl(name, kind, settings, on_settings)
    NumberField("Seed", settings.seed, fields.parse_seed, lambda v: change(seed=v), "seed", disabled=busy)
    solara.Text("Accounting", style="font-size: 15px; font-weight: 600; margin-top: 6px;")
    with solara.Div(classes=["accounting"]):
        # A valuation of the CO2 avoided (the social-surplus accounts), not a lever companies
        # respond to: kept out of the policy sliders.
        NumberField(f"{lever_label('social_cost_of_carbon')} (EUR/t CO2)", settings.lever("social_cost_of_carbon"),
                    fields.parse_amount, lambda v: on_settings(settings.with_lever("social_cost_of_carbon", v)),
                    "social-cost-of-carbon", "values the CO2 avoided; companies do not see it", disabled=busy)
