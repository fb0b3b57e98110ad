"""Advice from measurement: what a build suggests is tried first and named only where it
helps (issue 35, item 5).

- `accuracy_trials`: a build whose SNN loses more than its coding's bound converts again
  with each of the coding's `accuracy_candidates` (settings from the ones in use on, a
  few at most; `golden.codings`) the way the build converted, simulates the test split,
  and names only those that win back at least `MEASURABLE_IMAGES` test images, each with
  its accuracy, or says that none does.
- `fit_advice`: a design that does not fit its board is estimated again (`boards.fit`,
  no tools) with fewer lanes, the lean memory plan, weight tables in SPRAM and narrower
  weights (these only where a conversion is cheap, `WEIGHT_ESTIMATE_SECONDS`); it names
  the changes that fit, or says that the network is too large for the board and names a
  board it fits, or the block RAM it needs.
"""
import dataclasses
import time

from golden.codings import get_coding
from golden.convert import ConversionError

MAX_TRIALS = 3
# a candidate helps when it classifies at least this many more test images correctly than
# the build: one image is the resolution of the measurement
MEASURABLE_IMAGES = 2
# narrower weights are estimated only for a design whose conversion took at most this long
# (each width is a conversion again); else they are not suggested
WEIGHT_ESTIMATE_SECONDS = 30.0
NARROWEST_WEIGHT_BITS = 4


def option_words(changes: dict) -> str:
    """Settings as `flows.build` options: {"T": 24, "Q": "auto"} → "--T 24 --Q auto"."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (list, tuple)):
            return ",".join(map(str, v))
        return f"{v:g}" if isinstance(v, float) else str(v)
    return " ".join(f"--{name.replace('_', '-')} {value(v)}" for name, v in changes.items())


def loss_words(lost: float) -> str:
    """Points lost against the float ANN, as words: "loses 0.84", "gains 0.28"."""
    if round(lost, 2) == 0:
        return "loses none"
    return f"loses {lost:.2f}" if lost > 0 else f"gains {-lost:.2f}"


def outside_bound_head(coding: str, lost: float) -> str:
    bound = get_coding(coding).golden.ACCURACY_BOUND
    return (f"the SNN loses {lost:.2f} points against the float ANN, more than "
            f"{coding}'s {bound:g}")


def untried_hint(coding: str, lost: float, params, network) -> str:
    """The bound's note without measurement: the coding's hint and its candidate settings
    from `params` on (`accuracy_trials` measures them)."""
    golden = get_coding(coding).golden
    candidates = golden.accuracy_candidates(params, network)[:MAX_TRIALS] \
        if network is not None else []
    named = ("" if not candidates else
             f" (not measured: try {', '.join(option_words(c) for c in candidates)})")
    return f"{outside_bound_head(coding, lost)}: {golden.ACCURACY_HINT} may win them back{named}"


def accuracy_trials(design, ann: float, snn: float, note=None) -> dict:
    """{"outside_bound": the note, "hint_trials": what was tried and measured}: each of
    the coding's `accuracy_candidates(design.params, design.network)` (at most
    `MAX_TRIALS`) converted with `Design.converted_with` (calibration, fine-tuning and
    conversion, as the build) and simulated on the test split; a note before each."""
    note = note or (lambda text: None)
    golden = get_coding(design.coding).golden
    labels = design.split.test_labels
    images = len(labels)
    built_correct = round(snn * images / 100)
    lost = round(ann - snn, 3)
    if design.folded is None:             # nothing to convert again from: named untried
        return {"outside_bound": untried_hint(design.coding, lost, design.params,
                                              design.network)}
    candidates = golden.accuracy_candidates(design.params, design.network)[:MAX_TRIALS]
    calibration = design.calibration() if candidates else None
    trials = []
    for number, changes in enumerate(candidates, 1):
        words = option_words(changes)
        note(f"accuracy hint {number}/{len(candidates)}: {words}: converting again and "
             f"simulating the {images} test images")
        started = time.monotonic()
        trial = {"options": changes}
        try:
            params = dataclasses.replace(design.params, **changes)
            network = design.converted_with(params, calibration).network
            correct = int((network.simulate(design.split.test_pixels).classes
                           == labels).sum())
        except ConversionError as error:
            trial["refused"] = str(error)
            note(f"  {words}: refused: {error}")
        else:
            trial.update({"snn_golden_percent": round(100 * correct / images, 3),
                          "lost_points": round(ann - 100 * correct / images, 3),
                          "helps": correct - built_correct >= MEASURABLE_IMAGES})
            note(f"  {words}: {trial['snn_golden_percent']:.2f} % "
                 f"({loss_words(trial['lost_points'])}) in "
                 f"{time.monotonic() - started:.1f} s")
        trial["seconds"] = round(time.monotonic() - started, 1)
        trials.append(trial)
    return {"outside_bound": measured_hint(design.coding, lost, images, trials),
            "hint_trials": {"measured_on_test_images": images,
                            "helps_from_images_more": MEASURABLE_IMAGES, "trials": trials}}


def measured_hint(coding: str, lost: float, images: int, trials: list[dict]) -> str:
    """The bound's note from the trials: those that helped, with their accuracy, or that
    none did."""
    head = outside_bound_head(coding, lost)
    if not trials:
        return (f"{head}; {coding} has no setting left to try beyond the ones in use "
                f"({get_coding(coding).golden.ACCURACY_HINT})")

    def measured(trial):
        return (f"{option_words(trial['options'])}: {trial['snn_golden_percent']:.2f} % "
                f"({loss_words(trial['lost_points'])})")
    helped = sorted((t for t in trials if t.get("helps")),
                    key=lambda t: -t["snn_golden_percent"])
    others = [t for t in trials if not t.get("helps")]
    refused = "".join(f"; {option_words(t['options'])} refused: {t['refused']}"
                      for t in others if "refused" in t)
    if helped:
        not_helped = [option_words(t["options"]) for t in others if "refused" not in t]
        return (f"{head}; measured on the {images} test images, "
                + ("this wins" if len(helped) == 1 else "these win") + " points back: "
                + ", ".join(map(measured, helped))
                + (f" ({', '.join(not_helped)} did not)" if not_helped else "") + refused)
    ran = [t for t in others if "refused" not in t]
    listed = ", ".join(option_words(t["options"]) for t in trials)
    return (f"{head}; none of {listed} recovers it"
            + (": " + ", ".join(map(measured, ran)) + f" on the {images} test images"
               if ran else "") + refused)


# ---- fit ---------------------------------------------------------------------------------

def fewer_lanes(lanes) -> list:
    """Halved lanes down to 1: 4 → [2, 1]; per layer [4, 2] → [[2, 1], [1, 1]]."""
    steps = []
    while (max(lanes) if isinstance(lanes, list) else lanes) > 1:
        lanes = [max(1, l // 2) for l in lanes] if isinstance(lanes, list) else lanes // 2
        steps.append(lanes)
    return steps


class FitEstimates:
    """The block-RAM estimate of `design` with some of its build options changed:
    `fits(board, changes)` → (fits, `boards.fit.check_fit` figures or None). Designs
    converted again for narrower weights and the estimates are kept."""

    def __init__(self, design, lanes, weights_in: str, memory: str, note):
        self.design, self.note = design, note
        self.given = {"lanes": lanes, "weights_in": weights_in, "memory": memory}
        self.narrower, self.calibration, self.known = {}, None, {}

    def with_weight_bits(self, bits: int):
        """The design converted again with `bits`-bit weights, or None if refused."""
        if bits not in self.narrower:
            design = self.design
            self.note(f"  converting again with --weight-bits {bits}")
            if self.calibration is None:
                self.calibration = design.calibration()
            try:
                self.narrower[bits] = design.converted_with(
                    dataclasses.replace(design.params, weight_bits=bits), self.calibration)
            except ConversionError as error:
                self.note(f"  --weight-bits {bits}: refused: {error}")
                self.narrower[bits] = None
        return self.narrower[bits]

    def fits(self, board: str, changes: dict):
        from boards.fit import BOARDS, DoesNotFit
        key = (board, option_words(changes))
        if key in self.known:
            return self.known[key]
        options = {**self.given, **changes}
        design = self.design if "weight_bits" not in changes else \
            self.with_weight_bits(changes["weight_bits"])
        if design is None:
            return False, None
        weights_in = options["weights_in"]
        if weights_in == "spram" and not BOARDS[board]["sprams"]:
            weights_in = "auto"
        self.note(f"  estimating the {board} with {option_words(changes) or 'the options given'}")
        try:   # the plans and weight placements a build with these options would try
            top = design.fitted_top(board, options["lanes"], weights_in, options["memory"],
                                    advise=False)
            result = True, top.fit_estimates[board]
        except DoesNotFit as error:
            result = False, error.estimate
        self.known[key] = result
        return result


def _needs(estimate, board: str) -> str:
    from boards.fit import BOARDS
    unit = BOARDS[board]["unit"].split()[0]
    if estimate is None:
        return "not estimated"
    return f"{estimate['needed']:g} of {estimate['available']} {unit}"


def fit_advice(design, board: str, lanes, weights_in: str, memory: str, estimate=None,
               note=None) -> str:
    """What fits `board` when `design` with these build options does not: single changes
    (fewer lanes, halved down to 1; the lean plan after --memory fast; weight tables in
    SPRAM after --weights-in block-ram; --weight-bits 6 then 4 where a conversion takes
    at most `WEIGHT_ESTIMATE_SECONDS`), estimated only when all of them together fit;
    else the network is too large for the board: the other boards (by block RAM, those
    with less than the design keeps in block RAM here skipped) as it is, then with those
    changes, or the block RAM it needs (`estimate`: the figures of the design as asked)."""
    from boards.fit import BOARDS
    note = note or (lambda text: None)
    note(f"{design.name} does not fit the {board}: estimating what would")
    estimates = FitEstimates(design, lanes, weights_in, memory, note)
    families = []                       # each: single changes, largest first
    if fewer_lanes(lanes):
        families.append([{"lanes": fewer} for fewer in fewer_lanes(lanes)])
    if memory == "fast":
        families.append([{"memory": "lean"}])
    if weights_in == "block-ram" and BOARDS[board]["sprams"]:
        families.append([{"weights_in": "auto"}])
    widths, skipped_weights = [], ""
    bits = getattr(design.params, "weight_bits", None)
    if bits is not None and design.folded is not None:
        widths = sorted({b for b in (bits - 2, NARROWEST_WEIGHT_BITS)
                         if NARROWEST_WEIGHT_BITS <= b < bits}, reverse=True)
        seconds = getattr(design, "conversion_seconds", None)
        if widths and (seconds is None or seconds > WEIGHT_ESTIMATE_SECONDS):
            skipped_weights = ("; narrower weights were not estimated (a conversion takes "
                               + (f"{seconds:.0f} s" if seconds is not None else
                                  "an unknown time") + ")")
            widths = []
    smallest = {key: value for family in families for key, value in family[-1].items()}
    if widths:
        for width in reversed(widths):            # the narrowest the coding converts
            if estimates.with_weight_bits(width) is not None:
                smallest["weight_bits"] = width
                break
        families.append([{"weight_bits": w} for w in widths])
    fits, smallest_estimate = estimates.fits(board, smallest) if smallest else (False,
                                                                                 estimate)
    if fits:
        named = []
        for family in families:
            for changes in family:
                ok, figures = estimates.fits(board, changes)
                if ok:
                    named.append(f"{option_words(changes)} ({_needs(figures, board)}"
                                 + ("; its accuracy not measured" * ("weight_bits" in changes))
                                 + ")")
                    break                       # the largest setting of this kind that fits
        if named:
            return ("estimated without tools, each of these fits: " + ", or ".join(named)
                    + skipped_weights)
        return (f"estimated without tools, no one change fits; together "
                f"{option_words(smallest)} fit ({_needs(smallest_estimate, board)})"
                + skipped_weights)
    return too_large(board, smallest, smallest_estimate, estimates) + skipped_weights


def too_large(board: str, smallest: dict, smallest_estimate, estimates: FitEstimates) -> str:
    """The note for a network no setting fits on `board`: another board it fits, or the
    block RAM it needs."""
    from boards.fit import BOARDS, capacity_bits
    even = (f" even with {option_words(smallest)} ({_needs(smallest_estimate, board)})"
            if smallest else "")
    text = f"the network is too large for the {board}{even}"
    at_least = None if smallest_estimate is None else \
        smallest_estimate["memory_bits_in_block_ram"]
    shrunk = {key: value for key, value in smallest.items() if key != "weights_in"}
    for other in sorted((b for b in BOARDS if b != board), key=capacity_bits):
        if at_least is not None and capacity_bits(other) < at_least:
            continue                   # less block RAM than the design keeps in it here
        for changes in [{}] + [shrunk] * bool(shrunk):
            ok, figures = estimates.fits(other, changes)
            if ok:
                how = f"with {option_words(changes)}" if changes else "as it is"
                return f"{text}; it fits the {other} {how} ({_needs(figures, other)})"
    if smallest_estimate is None:
        return f"{text}; no board here takes it"
    amount = f"{at_least / 1e6:.2f} Mbit" if at_least >= 1e6 else f"{at_least / 1e3:.1f} kbit"
    return (f"{text}; no board here takes it: it keeps {amount} in block RAM at the least"
            + ("" if smallest else f" ({_needs(smallest_estimate, board)})"))
