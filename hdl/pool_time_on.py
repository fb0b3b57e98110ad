"""Max pooling by tsc's rule (time spent on, `TIME_ON_MAX_POOL`): a scan of every window at
every phase, because a member that is on gains time at every step, spike or not, so the
window's maximum can grow without any spike (`hdl/pool.py` has the other rules).

The unit runs after the producing layer and before the consuming one, phase by phase:

    LOAD  each spike (neuron n, sign) of phase t goes to its window's member slot:
          slot bank m, word p (member map ROM: n → p, m)
    WAIT  3 cycles, the last LOAD writes land
    PASS  for every word of `group` windows (the consumer's lanes): all member slots and
          the window states are read at once, the slots are cleared, the rule updates
          every window of the word (three stages: times on, pairwise compares, the
          maximum picked), and the pooled spikes of phase t leave for the consumer's
          event buffer one per cycle, lowest window first (more than one holds the unit)
    DRAIN 2 cycles, the pass's last word clears its slots before the next LOAD writes them;
          the next phase's start address and count are looked up into registers

Window state (phase 1 starts from the initial state, so no clearing between images): each
member's on/off state, its time on, the maximum and the pooled on/off state; the pooled
train switches on (+1) or off (-1) when "the maximum grew this step" changes.

Cycles from `start` to `done`: Σ_t (max(1, events(t)) + 3 + words + 2 + stalls(t)) + 4, stalls:
Σ_words max(0, pooled spikes of the word in phase t − 1) (`golden/cycles.py`).

The slot banks must start empty, and a block RAM (or an SRAM macro) may not: after reset
the unit writes zeros to every word (`words` cycles) and raises `cleared`; `snn_top`
takes no pixel before that, so no cycle count from the last pixel changes.
"""
from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .events import EventSink, EventSource
from .pool import clear_after_reset, member_map, member_rom

WAIT_CYCLES = 3
DRAIN_CYCLES = 2
FINISH_CYCLES = 4


class TimeOnMaxPool(wiring.Component):
    """LOAD, WAIT, PASS per phase over every window (module docstring)."""

    def __init__(self, pool_index, n_neurons: int, phases: int, rule, name: str,
                 group: int = 1):
        self.pool_index, self.rule, self.name = pool_index, rule, name
        self.windows, self.width = pool_index.shape
        self.phases = phases
        self.group = max(1, min(group, self.windows))       # windows updated per PASS cycle
        self.words = -(-self.windows // self.group)
        self.slots = member_map(pool_index.tolist(), n_neurons, name)
        super().__init__({
            "start": In(1),
            "done": Out(1),
            "cleared": Out(1),
            "events": Out(EventSource(n_neurons, phases, phases)),
            "spikes": Out(EventSink(self.windows, phases)),
        })

    def state_layout(self) -> data.StructLayout:
        count, w = range(self.phases + 1), self.width
        return data.StructLayout({"on": w, "time_on": data.ArrayLayout(count, w),
                                  "best": count, "out_on": 1})

    def timed_layout(self) -> data.StructLayout:
        """A window between the update's stages: its members' new on/off states and times
        on, the maximum they must beat (`grew_from`), the pooled state; from P4 on, `ge`:
        for each pair i < j of [grew_from, time_on...], value i ≥ value j."""
        count, w = range(self.phases + 1), self.width
        return data.StructLayout({"on": w, "time_on": data.ArrayLayout(count, w),
                                  "grew_from": count, "out_on": 1,
                                  "ge": (w + 1) * w // 2})

    def add_times(self, m, state, first, values):
        """P2: each member's on/off state after this phase's spike (+1 on, -1 off) and its
        time on (phase 1 starts from the initial state)."""
        timed = Signal(self.timed_layout())
        for slot in range(self.width):
            value = values[slot]               # 2-bit signed: +1 on, -1 off
            switched = Mux(value == 0b01, 1,
                           Mux(value == 0b11, 0, Mux(first, 0, state.on[slot])))
            m.d.comb += [timed.on[slot].eq(switched),
                         timed.time_on[slot].eq(Mux(first, 0, state.time_on[slot]) + switched)]
        m.d.comb += [timed.grew_from.eq(Mux(first, 0, state.best)),
                     timed.out_on.eq(Mux(first, 0, state.out_on))]
        return timed

    def compare_times(self, m, timed):
        """P3: every pair of [grew_from, times on] compared at once (no serial max chain)."""
        values = [timed.grew_from] + [timed.time_on[slot] for slot in range(self.width)]
        compared = Signal(self.timed_layout())
        pairs = [values[i] >= values[j] for i, j in self.pairs()]
        m.d.comb += [compared.eq(timed), compared.ge.eq(Cat(*pairs))]
        return compared

    def pairs(self):
        """(i, j) for i < j in the order of `ge`'s bits."""
        n = self.width + 1
        return [(i, j) for i in range(n) for j in range(i + 1, n)]

    def update(self, m, compared):
        """P4: (next state, fire, negative) of one window: the maximum is the value that
        beats every earlier one and ties or beats every later one (one-hot); the maximum
        grew when a time on beats `grew_from`; the pooled train switches on (+1) or off
        (-1) when that changes."""
        values = [compared.grew_from] + [compared.time_on[slot] for slot in range(self.width)]
        ge = {pair: compared.ge[bit] for bit, pair in enumerate(self.pairs())}
        best = 0
        for i, value in enumerate(values):
            is_max = 1
            for j in range(len(values)):
                if j < i:
                    is_max = is_max & ~ge[(j, i)]
                elif j > i:
                    is_max = is_max & ge[(i, j)]
            best = best | Mux(is_max, value, 0)
        grew = ~Cat(*(ge[(0, j)] for j in range(1, len(values)))).all()
        nxt, fire, negative = Signal(self.state_layout()), Signal(), Signal()
        m.d.comb += [nxt.on.eq(compared.on), nxt.time_on.eq(compared.time_on),
                     nxt.best.eq(best), nxt.out_on.eq(grew),
                     fire.eq(grew != compared.out_on), negative.eq(~grew)]
        return nxt, fire, negative

    def elaborate(self, platform):
        m = Module()
        w, phases, group = self.width, self.phases, self.group
        words = self.words
        member_map_rom = member_rom(m, self.slots, self.windows, w, group)
        m.submodules.state = state_mem = Memory(
            shape=data.ArrayLayout(self.state_layout(), group), depth=max(words, 2), init=[])
        banks = []
        for slot in range(w):
            # 2 bits per window (+1 on: 0b01, -1 off: 0b11), `group` windows per word
            bank = Memory(shape=2 * group, depth=max(words, 2), init=[])
            m.submodules[f"slot_{slot}"] = bank
            # no byte enables (an SRAM macro may have none): a spike's write reads the
            # word first; the read sees the write just before it (spikes back to back)
            write = bank.write_port()
            banks.append((bank.read_port(transparent_for=(write,)), write))

        busy, mode = Signal(), Signal(range(4))          # 0 LOAD, 1 WAIT, 2 PASS, 3 DRAIN
        LOAD, WAIT, PASS, DRAIN = 0, 1, 2, 3
        # the phase LOAD reads: it moves on when PASS ends (1 when idle), so the buffer's
        # start address and count of the phase are registered (`last`, `empty`) before
        # LOAD needs them: no per-phase mux between `phase` and the sequencer
        phase = Signal(range(phases + 2), init=1)
        position = Signal.like(self.events.read_pos)
        last, empty = Signal.like(self.events.count), Signal()
        m.d.sync += [last.eq(self.events.count - 1), empty.eq(self.events.count == 0)]
        wait = Signal(range(max(WAIT_CYCLES, DRAIN_CYCLES) + 1))
        word = Signal(range(max(words, 2)))
        stall = Signal()
        advance = ~stall

        # LOAD pipeline: event read → member map read → its word registered → slot word
        # read → slot word write.
        loading = busy & (mode == LOAD) & ~empty & advance
        load_1, load_2, sign_2 = Signal(), Signal(), Signal()
        map_read = member_map_rom.read_port()
        m.d.comb += [self.events.phase.eq(phase), self.events.ahead.eq(0),
                     self.events.read_pos.eq(position),
                     self.events.read_en.eq(loading),
                     map_read.addr.eq(self.events.index), map_read.en.eq(1)]
        m.d.sync += [load_1.eq(loading), load_2.eq(load_1), sign_2.eq(self.events.sign)]
        target = map_read.data
        # the member map's word registered (L3) before it addresses the slot word read,
        # written in L4 (no path from the map's block RAM into the slot banks' address)
        load_3, sign_3, load_4, sign_4 = Signal(), Signal(), Signal(), Signal()
        target_3, target_4 = Signal.like(target), Signal.like(target)
        m.d.sync += [load_3.eq(load_2 & target.valid), sign_3.eq(sign_2), target_3.eq(target),
                     load_4.eq(load_3), sign_4.eq(sign_3), target_4.eq(target_3)]

        # PASS pipeline: slot and state reads of a word → registered (no path from a
        # memory's output through the update into its input) → P2: new times on, the
        # slots cleared → P3: the times compared pairwise → P4: the maximum picked, the
        # state written, the pooled spikes leave. Words of one pass differ, so no
        # forwarding; DRAIN lets the slots' last clear land before the next LOAD writes
        # them; the state's last write lands before the next PASS reads it.
        passing = busy & (mode == PASS)
        pass_1, pass_word, pass_phase = Signal(), Signal.like(word), Signal.like(phase)
        pass_2, p2_word, p2_phase = Signal(), Signal.like(word), Signal.like(phase)
        state_read, state_write = state_mem.read_port(), state_mem.write_port()
        p2_state = Signal.like(state_read.data)
        with m.If(advance):
            m.d.sync += [pass_1.eq(passing), pass_word.eq(word), pass_phase.eq(phase),
                         pass_2.eq(pass_1), p2_word.eq(pass_word), p2_phase.eq(pass_phase),
                         p2_state.eq(state_read.data)]
        clear_slots = pass_2 & advance
        m.d.comb += [state_read.addr.eq(word), state_read.en.eq(advance)]
        # after reset: zeros to every word of the slot banks, before any pixel is taken
        clearing, clear_word = clear_after_reset(m, self.cleared, words)
        values = [[] for _ in range(group)]
        for slot, (read, write) in enumerate(banks):
            load_here = load_4 & (target_4.slot == slot) & ~clearing
            value = Mux(sign_4, 0b11, 0b01)
            merged = Signal(2 * group, name=f"merged_{slot}")
            m.d.comb += merged.eq(read.data)
            with m.Switch(target_4.lane):
                for lane in range(group):
                    with m.Case(lane):
                        m.d.comb += merged[2 * lane:2 * lane + 2].eq(value)
            m.d.comb += [read.addr.eq(Mux(load_3, target_3.window, word)),
                         read.en.eq(load_3 | advance),
                         write.addr.eq(Mux(clearing, clear_word,
                                           Mux(load_here, target_4.window, p2_word))),
                         write.data.eq(Mux(load_here, merged, 0)),
                         write.en.eq(load_here | clear_slots | clearing)]
            p2_values = Signal.like(read.data, name=f"p2_slot_{slot}")
            with m.If(advance):
                m.d.sync += p2_values.eq(read.data)
            for lane in range(group):
                values[lane].append(p2_values[2 * lane:2 * lane + 2])
        p3_valid, p4_valid = Signal(), Signal()
        p3_word, p4_word = Signal.like(word), Signal.like(word)
        p3_phase, p4_phase = Signal.like(phase), Signal.like(phase)
        with m.If(advance):
            m.d.sync += [p3_valid.eq(pass_2), p3_word.eq(p2_word), p3_phase.eq(p2_phase),
                         p4_valid.eq(p3_valid), p4_word.eq(p3_word), p4_phase.eq(p3_phase)]
        write_state = p4_valid & advance
        m.d.comb += [state_write.addr.eq(p4_word), state_write.en.eq(write_state)]
        fires, negatives = Signal(group), Signal(group)
        for lane in range(group):
            p3_timed = Signal(self.timed_layout(), name=f"p3_timed_{lane}")
            p4_compared = Signal(self.timed_layout(), name=f"p4_compared_{lane}")
            timed = self.add_times(m, p2_state[lane], p2_phase == 1, values[lane])
            with m.If(advance):
                m.d.sync += [p3_timed.eq(timed),
                             p4_compared.eq(self.compare_times(m, p3_timed))]
            nxt, fire, negative = self.update(m, p4_compared)
            m.d.comb += [state_write.data[lane].eq(nxt), fires[lane].eq(fire),
                         negatives[lane].eq(negative)]
        self.emit(m, write_state, advance, fires, negatives, p4_word, p4_phase, stall)
        m.d.comb += self.spikes.clear.eq(~busy & self.start)

        # Sequencer.
        finishing = Signal(range(FINISH_CYCLES + 1))
        with m.If(~busy & self.start):
            m.d.sync += [busy.eq(1), mode.eq(LOAD), phase.eq(1), position.eq(0)]
        with m.Elif(busy & advance):
            with m.Switch(mode):
                with m.Case(LOAD):
                    with m.If(empty | (position == last)):
                        m.d.sync += [mode.eq(WAIT), wait.eq(0), position.eq(0)]
                    with m.Else():
                        m.d.sync += position.eq(position + 1)
                with m.Case(WAIT):
                    m.d.sync += wait.eq(wait + 1)
                    with m.If(wait == WAIT_CYCLES - 1):
                        m.d.sync += [mode.eq(PASS), word.eq(0)]
                with m.Case(PASS):
                    m.d.sync += word.eq(word + 1)
                    with m.If(word == words - 1):
                        m.d.sync += [word.eq(0), mode.eq(DRAIN), wait.eq(0),
                                     phase.eq(phase + 1)]
                with m.Case(DRAIN):
                    m.d.sync += wait.eq(wait + 1)
                    with m.If(wait == DRAIN_CYCLES - 1):
                        m.d.sync += mode.eq(LOAD)
                        with m.If(phase == phases + 1):
                            m.d.sync += [busy.eq(0), finishing.eq(FINISH_CYCLES),
                                         phase.eq(1)]
        with m.If((finishing != 0) & advance):
            m.d.sync += finishing.eq(finishing - 1)
            m.d.comb += self.done.eq(finishing == 1)
        return m

    def emit(self, m, commit, advance, fires, negatives, pass_word, pass_phase, stall):
        """The pooled spikes of one word leave one per cycle, lowest window first; more
        than one left holds the unit (as the layer engine's stage C does)."""
        group = self.group
        remaining, negative = Signal(group), Signal(group)
        base, out_phase = Signal.like(pass_word), Signal.like(pass_phase)
        lowest, lane = Signal(group), Signal(range(max(group, 2)))
        m.d.comb += lowest.eq(remaining & -remaining)
        for index in range(group):
            with m.If(lowest[index]):
                m.d.comb += lane.eq(index)
        with m.If(advance):
            m.d.sync += [remaining.eq(Mux(commit, fires, 0)), negative.eq(negatives),
                         base.eq(pass_word), out_phase.eq(pass_phase)]
        with m.Else():
            m.d.sync += remaining.eq(remaining & ~lowest)
        event = self.spikes.events.payload
        m.d.comb += [stall.eq((remaining & ~lowest) != 0),
                     self.spikes.events.valid.eq(remaining != 0),
                     event.neuron.eq(base * group + lane),
                     event.sign.eq(negative.bit_select(lane, 1)),
                     event.phase.eq(out_phase)]
