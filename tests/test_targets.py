"""Board targets without the tools: the Yosys retry of `boards.targets.nextpnr_build`, on a
stand-in platform whose build script fails as Yosys' ABC mapper does with one set of
synthesis options."""
import json

import pytest
from amaranth.build.run import BuildPlan

from boards.targets import StepError, nextpnr_build

REPORT = {"fmax": {"clk": {"achieved": 101.5}},
          "utilization": {"TRELLIS_FF": {"used": 3, "available": 10}}}


class StandInPlatform:
    """`prepare` gives a build script that fails without a netlist under `failing`
    options (as ABC's stack exhaustion does), and after one under `late_failure`."""
    default_clk_frequency = 25e6

    def __init__(self, failing=(), late_failure=()):
        self.failing, self.late_failure, self.attempts = failing, late_failure, []
        self.prepared = 0

    def __call__(self):
        """A new platform per attempt (here: the same recorder, counted)."""
        self.prepared += 1
        return self

    def prepare(self, top, name, synth_opts, nextpnr_opts):
        # an Amaranth platform prepares one design only
        assert len(self.attempts) == self.prepared - 1, "prepare called twice on one platform"
        self.attempts.append(synth_opts)
        plan = BuildPlan(script=f"build_{name}")
        if synth_opts in self.failing:
            script = "echo 'wasm trap: call stack exhausted'; exit 1\n"
        elif synth_opts in self.late_failure:
            script = f"echo '{{}}' > {name}.json; echo 'ERROR: no placement' > {name}.rpt; exit 1\n"
        else:
            script = (f"echo '{{}}' > {name}.json; touch {name}.bit; "
                      f"echo '{json.dumps(REPORT)}' > nextpnr_report.json\n")
        plan.add_file(f"build_{name}.sh", script)
        return plan


def build(platform, directory, notes):
    return nextpnr_build(None, platform, directory, {}, "snn_board.bit", "stand-in build",
                         notes.append, synth_attempts=("-dff", ""))


def test_yosys_without_a_netlist_retries_with_the_next_options(tmp_path):
    platform, notes = StandInPlatform(failing=("-dff",)), []
    figures = build(platform, tmp_path, notes)
    assert platform.attempts == ["-dff", ""]
    assert figures["synth_options"] == "" and figures["fmax_mhz"] == 101.5
    assert "call stack exhausted" in (tmp_path / "build-synth-attempt-1.log").read_text()
    assert any("'-dff'" in note and "trying ''" in note for note in notes)


def test_the_first_options_that_work_are_kept(tmp_path):
    platform = StandInPlatform()
    assert build(platform, tmp_path, [])["synth_options"] == "-dff"
    assert platform.attempts == ["-dff"]


def test_a_failure_after_the_netlist_is_not_retried(tmp_path):
    platform = StandInPlatform(late_failure=("-dff",))
    with pytest.raises(StepError, match="ERROR: no placement"):
        build(platform, tmp_path, [])
    assert platform.attempts == ["-dff"]


def test_every_option_failing_names_the_step_and_its_log(tmp_path):
    platform = StandInPlatform(failing=("-dff", ""))
    with pytest.raises(StepError, match="stand-in build failed .*build.log"):
        build(platform, tmp_path, [])
    assert platform.attempts == ["-dff", ""]
