"""Advice from measurement (flows.advice; issue 35, item 5): the accuracy hint names only
settings that measurably helped, the fit message only settings and boards the estimate
fits, and a fine-tuning coding says that the hardware computes the fine-tuned network."""
import dataclasses
import json
from types import SimpleNamespace

import pytest

from boards import fit
from boards.fit import DoesNotFit
from flows.advice import MAX_TRIALS, accuracy_trials, fewer_lanes, option_words
from flows.design import convert
from flows.report import accuracy_bound
from golden.codings import REGISTRY, get_coding
from golden.codings.phase import PhaseParams


@pytest.fixture(scope="module")
def phase_at_T4():
    """digits-mlp in phase at a deliberately poor T = 4: 80.83 % against the float 98.06 %."""
    return convert("digits-mlp", coding="phase", T=4)


@pytest.mark.parametrize("coding", sorted(REGISTRY))
def test_every_coding_s_candidates_move_away_from_the_settings_in_use(coding):
    """A few candidates, each a setting the coding accepts and none the one in use (the
    user's "try --T 24" at --T 24), from the defaults and from a candidate on."""
    golden, params = get_coding(coding).golden, get_coding(coding).params()
    network = SimpleNamespace(params=params, layers=[])
    candidates = golden.accuracy_candidates(params, network)
    assert 1 <= len(candidates) <= MAX_TRIALS
    for changes in candidates:
        assert any(getattr(params, name) != value for name, value in changes.items())
        moved = dataclasses.replace(params, **changes)       # accepted (no ConversionError)
        for later in golden.accuracy_candidates(moved, network):
            assert any(getattr(moved, name) != value for name, value in later.items()), \
                (changes, later)


def test_phase_candidates_are_relative_to_the_phases_in_use():
    network = SimpleNamespace(layers=[])
    assert [option_words(c) for c in get_coding("phase").golden.accuracy_candidates(
        PhaseParams(T=24), network)] == ["--T 32", "--Q auto", "--T 32 --Q auto"]
    for auto in (PhaseParams(T=24, Q="auto"), PhaseParams(T=24, Q="auto").resolved()):
        assert get_coding("phase").golden.accuracy_candidates(auto, network) == [
            {"T": 32}, {"T": 40}]
    # untried (a caller that opts out): named from the settings in use on, never T = 24 again
    hint = accuracy_bound("phase", 98.0, 93.7, SimpleNamespace(params=PhaseParams(T=24),
                                                               layers=[]))["outside_bound"]
    assert "loses 4.30 points" in hint and "not measured: try --T 32, --Q auto" in hint
    assert "--T 24" not in hint


def test_converting_again_takes_the_build_s_path(phase_at_T4):
    again = phase_at_T4.converted_with(phase_at_T4.params)
    assert again.accuracy() == phase_at_T4.accuracy()


def test_the_hint_names_only_the_candidate_that_helped(phase_at_T4, monkeypatch, tmp_path,
                                                      capsys):
    """Candidates T = 3 (worse than the build's T = 4) and T = 12: the note names T = 12 with
    its accuracy; report.json keeps both trials."""
    monkeypatch.setattr(get_coding("phase").golden, "accuracy_candidates",
                        lambda params, network: [{"T": 3}, {"T": 12}])
    out = phase_at_T4.build(tmp_path / "b", golden_only=True)
    accuracy = json.loads((out / "report.json").read_text())["accuracy"]
    assert accuracy["snn_golden_percent"] == 80.833
    trials = accuracy["hint_trials"]["trials"]
    assert [t["options"] for t in trials] == [{"T": 3}, {"T": 12}]
    assert [t["helps"] for t in trials] == [False, True]
    assert trials[1]["snn_golden_percent"] == 98.056 and trials[1]["lost_points"] == 0
    assert trials[0]["snn_golden_percent"] < 80.833
    note = accuracy["outside_bound"]
    assert "this wins points back: --T 12: 98.06 % (loses none) (--T 3 did not)" in note
    assert "--T 3:" not in note
    printed = capsys.readouterr()
    assert note in printed.out                                 # the summary says it
    assert "accuracy hint 1/2: --T 3" in printed.err           # a note per candidate
    assert "accuracy hint 2/2: --T 12" in printed.err


def test_none_helps_is_said_plainly(phase_at_T4, monkeypatch):
    """A candidate that loses more and one the coding refuses: none recovers the loss."""
    monkeypatch.setattr(get_coding("phase").golden, "accuracy_candidates",
                        lambda params, network: [{"T": 3}, {"T": 99}])
    accuracy = phase_at_T4.accuracy()
    advice = accuracy_trials(phase_at_T4, accuracy["ann_float_percent"],
                             accuracy["snn_golden_percent"])
    note = advice["outside_bound"]
    assert note.startswith("the SNN loses 17.22 points against the float ANN, more than "
                           "phase's 1; none of --T 3, --T 99 recovers it: --T 3: ")
    assert "--T 99 refused: phase: T must be an integer from 2 to 64, not 99" in note
    assert not any(t.get("helps") for t in advice["hint_trials"]["trials"])


def test_a_caller_that_opts_out_gets_the_settings_untried(phase_at_T4, tmp_path):
    out = phase_at_T4.build(tmp_path / "b", golden_only=True, hint_trials=False)
    accuracy = json.loads((out / "report.json").read_text())["accuracy"]
    assert "hint_trials" not in accuracy
    assert "(not measured: try --T 12, --Q auto, --T 12 --Q auto)" in accuracy["outside_bound"]


def test_the_sweep_s_builds_opt_out():
    from flows import sweep_point
    import inspect
    assert "--no-hint-trials" in inspect.getsource(sweep_point._build_report)
    from flows.build import parse_args
    assert parse_args(["--no-hint-trials"]).hint_trials is False
    assert parse_args([]).hint_trials is True


def test_fewer_lanes_halve_down_to_one():
    assert fewer_lanes(4) == [2, 1] and fewer_lanes(1) == []
    assert fewer_lanes([4, 2, 1]) == [[2, 1, 1], [1, 1, 1]]


def test_the_fit_message_names_the_settings_that_fit():
    """digits-mlp at 8 lanes with every weight in block RAM needs 35 of the iCEBreaker's 30
    EBR: 4 lanes, weights in SPRAM and 4-bit weights each fit; 2 lanes (fitting too, but
    slower) is not named, nor the 6-bit weights, which do not fit."""
    design = convert("digits-mlp", coding="phase")
    with pytest.raises(DoesNotFit) as error:
        design.fitted_top("icebreaker", 8, weights_in="block-ram")
    message = str(error.value)
    assert "needs 35 of 30 iCE40UP5K block RAMs" in message
    assert "state_ram.memory 320x14 (20 EBR)" in message       # the largest memories, as before
    assert ("Estimated without tools, each of these fits: --lanes 4 (27 of 30 EBR), or "
            "--weights-in auto (") in message
    assert "--weight-bits 4 (27 of 30 EBR; its accuracy not measured)" in message
    assert "--lanes 2" not in message and "--weight-bits 6" not in message
    assert design.fitted_top("icebreaker", 4, weights_in="block-ram",
                             advise=False).fit_estimates["icebreaker"]["needed"] == 27


def test_a_network_too_large_for_the_board_names_a_board_it_fits():
    """digits-cnn in rate needs 47 of the iCEBreaker's 30 EBR at 1 lane, its weights in
    SPRAM (its spike buffers are the largest memories), 44 with 4-bit weights: too large;
    the Arty takes it as it is."""
    design = convert("digits-cnn", coding="rate")
    with pytest.raises(DoesNotFit) as error:
        design.fitted_top("icebreaker", 1)
    message = str(error.value)
    assert "needs 47 of 30" in message and "layer1_spikes.events 9x8192 (18 EBR)" in message
    assert ("The network is too large for the icebreaker even with --weight-bits 4 (44 of 30 "
            "EBR); it fits the arty as it is (7.5 of 50 BRAM36)") in message
    assert design.fitted_top("arty", 1).fit_estimates["arty"]["needed"] == 7.5


def test_a_network_no_board_takes_is_given_the_memory_it_needs(monkeypatch):
    for name in fit.BOARDS:
        monkeypatch.setitem(fit.BOARDS, name, {**fit.BOARDS[name], "available": 0, "sprams": 0})
    design = convert("digits-mlp", coding="phase")
    with pytest.raises(DoesNotFit, match=r"The network is too large for the arty even with "
                       r"--lanes 1 --weight-bits 4 \(1\.5 of 0 BRAM36\); no board here "
                       r"takes it: it keeps 23\.5 kbit in block RAM at the least$"):
        design.fitted_top("arty", 4)


def test_radix_says_the_hardware_computes_the_fine_tuned_network(tmp_path, capsys):
    design = convert("digits-mlp", coding="radix")
    out = design.build(tmp_path / "b", golden_only=True)
    accuracy = json.loads((out / "report.json").read_text())["accuracy"]
    tuned = accuracy["fine_tuned"]
    assert tuned["ann_float_percent"] == accuracy["ann_float_percent"] == 98.056
    # radix's fine-tuned ANN as trained, T-bit activations: its quantised ANN
    assert tuned["ann_fine_tuned_percent"] == accuracy["ann_quantised_percent"]
    assert "quantised to T = 6 bits" in tuned["why"]
    summary = capsys.readouterr().out
    assert ("fine-tuned the hardware computes the fine-tuned network, not the float ANN "
            f"given: float ANN 98.06 %, the fine-tuned ANN {tuned['ann_fine_tuned_percent']:.2f} %"
            ) in summary
    assert tuned["why"] in summary


@pytest.mark.parametrize("coding, params, fine_tunes", [
    ("phase", {}, False), ("radix", {}, True), ("deferred", {}, True), ("rate", {}, False),
    ("rate", {"norm": "rnl"}, True), ("tsc", {}, False), ("tsc", {"finetune_epochs": 10}, True)])
def test_which_settings_fine_tune(coding, params, fine_tunes):
    golden = get_coding(coding).golden
    why = golden.fine_tuning(get_coding(coding).params(**params)) \
        if hasattr(golden, "fine_tuning") else None
    assert (why is not None) == fine_tunes


def test_deferred_s_fine_tuned_ann_is_its_float_qcfs_ann():
    """deferred's fine-tuned ANN as trained (QCFS activations, float) on the test split:
    within a point of the SNN, which equals its integer counterpart."""
    from flows.report import fine_tuning_check
    design = convert("digits-mlp", coding="deferred")
    accuracy = design.accuracy()
    tuned = fine_tuning_check(design.network, design.layers, design.split,
                              accuracy["ann_float_percent"])["fine_tuned"]
    assert "QCFS activations of T = 4 bits" in tuned["why"]
    assert abs(tuned["ann_fine_tuned_percent"] - accuracy["snn_golden_percent"]) <= 1.0
