"""wfdb's gqrs QRS detector, the same beats at a fraction of the time.

`wfdb.processing.gqrs_detect` runs its filters and its state machine once per sample in Python, which
is most of a whole-record analysis. Here the trapezoidal smoothing and the QRS matched filter (exact
integer arithmetic, as wfdb does it) are computed for the whole signal with numpy, and the state machine
runs only at the samples where the filter output has a local maximum above the lowest threshold it can
reach; between them its one per-sample rule (the peak threshold decays after a long pause) is applied
in one step. wfdb's behaviour is kept as it is, quirks included: its learning pass never runs the
filter, and in the last samples its filter reads what its ring buffer held one buffer length earlier.
`tests/test_gqrs_fast.py` checks the port beat for beat against wfdb on synthetic signals, and on all
48 MIT-BIH records where they are present (all 39 SVDB records gave the same beats too, checked once).
"""

from __future__ import annotations

import bisect

import numpy as np
from wfdb import Record, processing
from wfdb.processing.qrs import GQRS

_RING = 64  # wfdb's peak buffer (GQRS.Conf._NPEAKS)
_EXACT = 2 ** 52  # the filter's running sum must stay where float64 division is exact, as in Python


def gqrs_detect(sig: np.ndarray, fs: float) -> np.ndarray:
    """QRS locations of a physical signal, as `wfdb.processing.gqrs_detect(sig, fs)` gives them."""
    sig = np.asarray(sig, dtype=np.float64)
    record = Record(p_signal=sig.reshape([-1, 1]), fmt=["24"])
    record.set_d_features(do_adc=True)
    x = record.d_signal[:, 0].astype(np.int64)
    conf = GQRS.Conf(fs=fs, adc_gain=record.adc_gain[0])
    filtered = _filter_output(x, conf) if len(x) >= 2 * conf.sps else None
    if filtered is None:
        return processing.gqrs_detect(sig=sig, fs=fs)
    return np.array(_StateMachine(conf, len(x), *filtered).run(), dtype=int)


def _filter_output(x: np.ndarray, c: GQRS.Conf) -> tuple[list[int], int, int, int] | None:
    """The filter value gqrs reads at each step (index t + offset), the first step that reads a value
    it did not compute this time, the last step, and the offset; None if exact arithmetic is not safe."""
    n, smdt, dt, dt4 = len(x), c.smdt, c.dt, c.dt4
    t_valid = n - dt4 + smdt + 1  # the step whose smoothing first reads past the end: the last filtered one
    t_end = min(t_valid + c.sps, n - 1 + c.sps)  # after it, one second of clean-up steps
    top = t_valid + dt4  # the smoothed signal is needed up to here
    pad = 2 * smdt + 2
    xp = np.concatenate([np.full(pad, x[0]), x, np.full(top + pad - n + 1, x[-1])])

    def xs(i: np.ndarray | int) -> np.ndarray:
        return xp[np.asarray(i) + pad]

    smv = np.zeros(top + 1, dtype=np.int64)
    if smdt >= 2:
        for u in range(1, smdt + 1):
            v = int(xs(u)) + sum(int(xs(u + j)) + int(xs(u - j)) for j in range(1, smdt))
            smv[u] = (v << 1) + int(xs(u + smdt)) + int(xs(u - smdt))
    u = np.arange(smdt + 1, top + 1)
    steps = xs(u + smdt) + xs(u + smdt - 1) - xs(u - smdt) - xs(u - smdt - 1)
    smv[smdt + 1:] = smv[smdt] + np.cumsum(steps)

    t = np.arange(-dt4, t_valid + 1)

    def diff(k: int) -> np.ndarray:
        return smv[np.clip(t + k, 0, None)] * (t + k > 0) - smv[np.clip(t - k, 0, None)] * (t - k > 0)

    dv1 = diff(dt)
    dv = ((((dv1 << 1) - diff(c.dt2)) << 1) + dv1 - diff(c.dt3)) << 1
    v1 = np.cumsum(dv + diff(dt4))
    if np.abs(v1).max(initial=0) >= _EXACT:
        return None
    v0 = np.trunc(v1.astype(np.float64) / c.v1norm).astype(np.int64)
    if np.abs(v0).max(initial=0) >= 2 ** 31:
        return None
    qfv = v0 * v0
    offset = dt4 + 2  # steps -dt4 - 2 and -dt4 - 1 read slots never written: 0
    values = np.zeros(t_end + offset + 1, dtype=np.int64)
    values[2:2 + len(qfv)] = qfv
    later = np.arange(t_valid + 1, t_end + 1)
    stale_from = later - c._BUFLN  # the ring buffer's slot still holds what was written one length earlier
    written = stale_from >= -dt4
    values[later[written] + offset] = qfv[stale_from[written] + dt4]
    return values.tolist(), t_valid, t_end, offset


class _StateMachine:
    """gqrs's peak and QRS logic (wfdb's GQRS.gqrs, running pass), run only at candidate steps."""

    def __init__(self, c: GQRS.Conf, n: int, values: list[int], t_valid: int, t_end: int, offset: int) -> None:
        self.c, self.tf = c, n - 1
        self.values, self.t_valid, self.t_end, self.offset = values, t_valid, t_end, offset
        self.time = [0] * _RING
        self.amp = [0] * _RING
        self.kind = [0] * _RING
        self.current = 0
        self.annotations: list[int] = []
        self.annot_time = 0

    def peaktype(self, p: int) -> int:
        """1 if the peak is the most prominent in its neighbourhood (within rrmin), else 2; kept once known."""
        if self.kind[p]:
            return self.kind[p]
        time, amp = self.time, self.amp
        a = amp[p]
        t0 = max(time[p] - self.c.rrmin, 0)
        t1 = time[p] + self.c.rrmin
        pp = (p - 1) % _RING
        while t0 < time[pp] < time[(pp + 1) % _RING]:
            if amp[pp] == 0:
                break
            if a < amp[pp] and self.peaktype(pp) == 1:
                self.kind[p] = 2
                return 2
            pp = (pp - 1) % _RING
        pp = (p + 1) % _RING
        while time[pp] < t1 and time[pp] > time[(pp - 1) % _RING]:
            if amp[pp] == 0:
                break
            if a < amp[pp] and self.peaktype(pp) == 1:
                self.kind[p] = 2
                return 2
            pp = (pp + 1) % _RING
        self.kind[p] = 1
        return 1

    def find_missing(self, r: int | None, p: int) -> int | None:
        """The prominent peak between r and p whose interval from r is nearest the mean RR."""
        if r is None:
            return None
        time = self.time
        min_error = time[p] - time[r]
        found = None
        q = (r + 1) % _RING
        while time[q] < time[p]:
            if self.peaktype(q) == 1:
                error = abs(time[q] - time[r] - self.c.rrmean)
                if error < min_error:
                    min_error, found = error, q
            q = (q + 1) % _RING
        return found

    def run(self) -> list[int]:
        c, values, offset = self.c, self.values, self.offset
        pthr_floor = c.pthr
        while pthr_floor > c.pthmin and pthr_floor >> 4:
            pthr_floor -= pthr_floor >> 4
        q = np.asarray(values)
        t = np.arange(c.dt4 + 1, self.t_end + 1)
        q0, q1, q2 = q[t + offset], q[t - 1 + offset], q[t - 2 + offset]
        candidates = t[(q1 > pthr_floor) & (q2 < q1) & (q1 >= q0)].tolist()
        last_peak, last_qrs, r = 0, 0, None
        accounted = -c.dt4 - 1
        for step in candidates:
            self._decay_peak_threshold(accounted + 1, step - 1, last_peak)
            accounted = step
            amplitude = values[step - 1 + offset]
            if amplitude > c.pthr:
                last_peak = step - 1
                last_qrs, r = self._peak(step, amplitude, last_qrs, r)
            else:
                self._decay_peak_threshold(step, step, last_peak)
        self._mark_last_beats()
        return self.annotations

    def _decay_peak_threshold(self, first: int, last: int, last_peak: int) -> None:
        """wfdb's per-sample rule for the steps first..last that hold no peak: after a pause longer than
        rrmax the peak threshold falls by 1/16 a step, down to pthmin."""
        c = self.c
        steps = last - max(first, last_peak + c.rrmax + 1) + 1
        while steps > 0 and c.pthr > c.pthmin and c.pthr >> 4:
            c.pthr -= c.pthr >> 4
            steps -= 1

    def _peak(self, step: int, amplitude: int, last_qrs: int, r: int | None) -> tuple[int, int | None]:
        """A new peak at step - 1: buffer it and decide the peaks old enough to be judged QRS or not."""
        c, time, amp = self.c, self.time, self.amp
        p = (self.current + 1) % _RING
        time[p], amp[p], self.kind[p] = step - 1, amplitude, 0
        self.current = p
        amp[(p + 1) % _RING] = 0
        running = step <= self.t_valid
        p = self._first_unjudged()
        while time[p] < step - c.rtmax:
            if time[p] >= self.annot_time + c.rrmin and self.peaktype(p) == 1:
                if amp[p] > c.qthr:
                    rr = time[p] - self.annot_time
                    missing = self.find_missing(r, p)
                    if rr > c.rrmean + 2 * c.rrdev and rr > 2 * (c.rrmean - c.rrdev) and missing is not None:
                        p = missing
                        rr = time[p] - self.annot_time
                    rrd = abs(rr - c.rrmean)
                    c.rrdev += (rrd - c.rrdev) >> 3
                    rrd = min(rrd, c.rrinc)
                    c.rrmean += rrd if rr > c.rrmean else -rrd
                    if amp[p] > c.qthr * 4:
                        c.qthr += 1
                    elif amp[p] < c.qthr:
                        c.qthr -= 1
                    c.qthr = min(c.qthr, c.pthr * 20)
                    last_qrs = time[p]
                    if running:
                        self.annotations.append(time[p] - c.dt2)
                        self.annot_time = time[p]
                    self._mark_t_wave(p)
                    r = p
                elif step - last_qrs > c.rrmax and c.qthr > c.qthmin:
                    c.qthr -= c.qthr >> 4
            p = (p + 1) % _RING
        return last_qrs, r

    def _first_unjudged(self) -> int:
        """Where wfdb's walk from the oldest buffered peak first does something: the first peak at least
        rrmin after the last beat. The buffer holds peaks in time order from the oldest, and the walk passes
        the earlier ones without a side effect, so starting here changes nothing but the time it takes."""
        start = (self.current + 1) % _RING
        in_order = self.time[start:] + self.time[:start]
        return (start + bisect.bisect_left(in_order, self.annot_time + self.c.rrmin)) % _RING

    def _mark_t_wave(self, p: int) -> None:
        """The peak after p nearest the mean R-to-T interval is its T wave: secondary from now on."""
        c, time = self.c, self.time
        best, rtd_min = None, c.rtmean
        q = (p + 1) % _RING
        while time[q] > self.annot_time:
            rt = time[q] - self.annot_time - c.dt2
            if rt > c.rtmax:
                break
            if rt >= c.rtmin and abs(rt - c.rtmean) < rtd_min:
                rtd_min, best = abs(rt - c.rtmean), q
            q = (q + 1) % _RING
        if best is None:
            return
        c.rtmean += (time[best] - c.dt2 - self.annot_time - c.rtmean) >> 4
        if c.rtmean > c.rtmax:
            c.rtmean = c.rtmax
        elif c.rtmean < c.rtmin:
            c.rtmean = c.rrmin  # sic: wfdb (and gqrs.c) reset it to rrmin
        self.kind[best] = 2

    def _mark_last_beats(self) -> None:
        """wfdb's closing pass: prominent peaks after the last beat are beats too (at the peak itself)."""
        c, time = self.c, self.time
        p = (self.current + 1) % _RING
        while time[p] < time[(p + 1) % _RING]:
            if time[p] >= self.annot_time + c.rrmin and time[p] < self.tf and self.peaktype(p) == 1:
                self.annot_time = time[p]
                self.annotations.append(time[p])
            p = (p + 1) % _RING
