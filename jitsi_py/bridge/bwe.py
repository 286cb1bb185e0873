"""Send-side bandwidth estimation towards one receiver, from its transport-cc feedback.

Sans-I/O. The forwarder stamps its own transport-wide sequence number on every packet it sends
this receiver and records when and how big it was in :class:`BandwidthEstimator`'s rings (plain
list stores: the per-packet path calls no method here; a negative size marks a packet whose loss
must not count, see ``transport_feedback``). Each feedback packet then goes in with
:meth:`BandwidthEstimator.transport_feedback`; REMB, when the receiver negotiated no
transport-cc, with :meth:`BandwidthEstimator.remb`. ``estimate`` is bits per second.

In the spirit of Google Congestion Control (draft-ietf-rmcat-gcc): packets are grouped into
bursts by send time; the growth of one-way delay between bursts is smoothed and its trend
(a least-squares slope over recent bursts) compared with an adaptive threshold. A rising trend
(queues filling) cuts the estimate to a fraction of what actually got through; a flat one lets it
grow multiplicatively; a falling one (queues draining) holds it. Loss above 10 % cuts it in
proportion, loss under 2 % allows growth. As in GCC, growth stops at 1.5 times what actually got
through (plus 10 kbps): an estimate nothing tested cannot climb, so after a drop it comes back
only as fast as traffic proves the path, which is what probing (``probing.py``) supplies.
"""

from __future__ import annotations

INITIAL_BITRATE = 2_500_000  # docs/bridge-media.md §4.4: JVB's initial, minimum and maximum
MIN_BITRATE = 30_000
MAX_BITRATE = 20_000_000
HISTORY = 8192  # power of two: sent packets remembered until their feedback comes

BURST = 0.005  # packets sent within 5 ms of a burst's first packet belong to it
SMOOTHING = 0.9
WINDOW = 20  # bursts in the trend's regression
TREND_GAIN = 4.0
THRESHOLD_INITIAL = 12.5  # ms, as the trend is scaled
THRESHOLD_MIN, THRESHOLD_MAX = 6.0, 600.0
THRESHOLD_UP, THRESHOLD_DOWN = 0.0087, 0.039  # per ms: slow to rise, quick to fall back
OVERUSE_BURSTS = 2  # consecutive bursts over the threshold before it counts as overuse
BETA = 0.85  # on overuse: this share of the rate that got through
GROWTH_PER_SECOND = 0.08
DECREASE_INTERVAL = 0.2  # at most one cut per this long (about a round trip) for one congestion
ACKED_WINDOW = 0.5  # seconds of received bytes behind the acknowledged rate
LOSS_HIGH, LOSS_LOW = 0.10, 0.02
LOSS_PERIOD = 0.5  # loss is judged over at least this much feedback
LOSS_MIN_PACKETS = 20  # ... and at least this many packets
ACKED_HEADROOM, ACKED_SLACK = 1.5, 10_000  # growth stops at this multiple of the acknowledged rate
# Seconds after a stream starts towards a receiver during which its packets' loss is not
# congestion: the receiver may not know the stream yet (the forwarder marks them, see above).
UNSIGNALLED_GRACE = 3.0

NORMAL, OVERUSE, UNDERUSE = 0, 1, -1


class BandwidthEstimator:
    def __init__(self) -> None:
        # Written by the forwarder per packet, indexed by sequence number & (HISTORY - 1).
        self.next_seq = 0
        self.sent_seq = [-1] * HISTORY
        self.sent_time = [0.0] * HISTORY
        self.sent_size = [0] * HISTORY
        self.estimate: float = INITIAL_BITRATE
        self.known = False  # True once feedback (or REMB) arrived: only then does it bind
        self.transport_cc = False
        self.state = NORMAL
        self.threshold = THRESHOLD_INITIAL
        self.feedback_packets = 0
        self.packets_lost = 0  # reported lost by feedback, since the start (counted ones only)
        # The burst being collected: its first and last send time, its last arrival.
        self._burst_first: float | None = None
        self._burst_sent = 0.0
        self._burst_arrival = 0.0
        self._previous: tuple[float, float] | None = None  # the last complete burst (send, arrival)
        self._accumulated = 0.0
        self._smoothed = 0.0
        self._points: list[tuple[float, float]] = []  # (arrival ms, smoothed delay ms)
        self._first_arrival: float | None = None
        self._overuse_count = 0
        self._last_trend_time: float | None = None
        self._acked: list[tuple[float, int]] = []  # (latest arrival, bytes) per recent feedback
        self._last_update: float | None = None
        self._last_decrease = -1e9
        self._loss_sent = 0
        self._loss_lost = 0
        self._loss_since: float | None = None
        self._loss_high = False

    # --- inputs ----------------------------------------------------------------------------------

    def sent(self, size: int, now: float) -> int:
        """Record one packet about to leave (``size`` bytes, negative: its loss does not count);
        returns the transport-wide sequence number to stamp on it. The per-packet path inlines
        this; probes and other occasional packets call it."""
        seq = self.next_seq
        self.next_seq = (seq + 1) & 0xFFFF
        index = seq & (HISTORY - 1)
        self.sent_seq[index], self.sent_time[index], self.sent_size[index] = seq, now, size
        return seq

    def transport_feedback(self, base: int, arrivals: list[float | None], now: float) -> None:
        """One transport-cc feedback (as ``rtcp.parse_transport_cc`` gives it).

        A packet sent with a negative size belongs to a stream the receiver may not have been
        told about yet: a browser drops those before its transport-cc accounting (the RTP
        demultiplexer knows no sink for them), so their absence says nothing about the path."""
        self.transport_cc = True
        self.feedback_packets += 1
        sent_seq, sent_time, sent_size = self.sent_seq, self.sent_time, self.sent_size
        received = lost = octets = 0
        latest = None
        first, last_sent, last_arrival = self._burst_first, self._burst_sent, self._burst_arrival
        for i, arrival in enumerate(arrivals):
            seq = (base + i) & 0xFFFF
            index = seq & (HISTORY - 1)
            if sent_seq[index] != seq:
                continue  # not ours, or too old to remember
            size = sent_size[index]
            if arrival is None:
                if size > 0:
                    lost += 1
                continue
            received += 1
            sent_seq[index] = -1  # a later feedback repeating it must not count it twice
            octets += size if size > 0 else -size
            if latest is None or arrival > latest:
                latest = arrival
            sent = sent_time[index]
            if first is None:
                first, last_sent, last_arrival = sent, sent, arrival
            elif sent < first:
                continue  # reordered behind its burst: the burst's timing stands
            elif sent - first <= BURST:
                if sent > last_sent:
                    last_sent = sent
                if arrival > last_arrival:
                    last_arrival = arrival
            else:
                self._burst_done(last_sent, last_arrival)
                first, last_sent, last_arrival = sent, sent, arrival
        self._burst_first, self._burst_sent, self._burst_arrival = first, last_sent, last_arrival
        if latest is not None:
            acked = self._acked
            acked.append((latest, octets))
            cut = 0
            while cut < len(acked) - 1 and latest - acked[cut][0] > ACKED_WINDOW:
                cut += 1
            del acked[:cut]
        self.packets_lost += lost
        if received + lost:
            self._loss_sent += received + lost
            self._loss_lost += lost
            self._update(now)

    def remb(self, bitrate: int, now: float) -> None:
        """The receiver's own estimate: used only while no transport-cc feedback came."""
        if not self.transport_cc:
            self.estimate = max(MIN_BITRATE, min(MAX_BITRATE, bitrate))
            self.known = True

    @property
    def acked_bitrate(self) -> float | None:
        """Bits per second that reached the receiver over about the last ``ACKED_WINDOW``
        (one entry per feedback packet: the bytes it acknowledged, by its latest arrival)."""
        acked = self._acked
        if len(acked) < 2:
            return None
        span = acked[-1][0] - acked[0][0]
        if span < 0.05:
            return None
        return sum(octets for _, octets in acked[1:]) * 8 / span

    # --- delay-based detection -------------------------------------------------------------------

    def _burst_done(self, sent: float, arrival: float) -> None:
        previous = self._previous
        self._previous = (sent, arrival)
        if previous is None:
            return
        gradient = ((arrival - previous[1]) - (sent - previous[0])) * 1000.0  # ms
        self._accumulated += gradient
        self._smoothed = SMOOTHING * self._smoothed + (1 - SMOOTHING) * self._accumulated
        if self._first_arrival is None:
            self._first_arrival = arrival
        points = self._points
        points.append(((arrival - self._first_arrival) * 1000.0, self._smoothed))
        if len(points) > WINDOW:
            del points[0]
        if len(points) < WINDOW:
            return
        trend = self._slope(points) * min(len(points), 60) * TREND_GAIN
        self._detect(trend, arrival)

    @staticmethod
    def _slope(points: list[tuple[float, float]]) -> float:
        """Least-squares slope of y over x (x taken from the first point: no cancellation)."""
        n = len(points)
        x0 = points[0][0]
        sx = sy = sxx = sxy = 0.0
        for x, y in points:
            x -= x0
            sx += x
            sy += y
            sxx += x * x
            sxy += x * y
        den = n * sxx - sx * sx
        return 0.0 if den == 0 else (n * sxy - sx * sy) / den

    def _detect(self, trend: float, when: float) -> None:
        if trend > self.threshold:
            self._overuse_count += 1
            if self._overuse_count >= OVERUSE_BURSTS:
                self.state = OVERUSE
        else:
            self._overuse_count = 0
            self.state = UNDERUSE if trend < -self.threshold else NORMAL
        # The threshold follows the trend, so a steady self-inflicted wobble (or competing
        # loss-based flows) does not read as overuse forever; outliers do not move it.
        last = self._last_trend_time
        self._last_trend_time = when
        distance = abs(trend) - self.threshold
        if last is not None and distance <= 15.0:
            gain = THRESHOLD_UP if distance > 0 else THRESHOLD_DOWN
            dt = min((when - last) * 1000.0, 100.0)
            self.threshold = max(THRESHOLD_MIN, min(THRESHOLD_MAX, self.threshold + gain * distance * dt))

    # --- rate control ----------------------------------------------------------------------------

    def _update(self, now: float) -> None:
        self.known = True
        last = self._last_update
        self._last_update = now
        elapsed = 0.0 if last is None else max(0.0, min(now - last, 1.0))
        if self._loss_since is None:
            self._loss_since = now
        elif now - self._loss_since >= LOSS_PERIOD and self._loss_sent >= LOSS_MIN_PACKETS:
            loss = self._loss_lost / self._loss_sent if self._loss_sent else 0.0
            self._loss_sent = self._loss_lost = 0
            self._loss_since = now
            if loss > LOSS_HIGH:
                self._loss_high = True
                self.estimate *= 1 - 0.5 * loss
            else:
                self._loss_high = loss >= LOSS_LOW
        estimate = self.estimate
        if self.state == OVERUSE:
            acked = self.acked_bitrate
            if now - self._last_decrease >= DECREASE_INTERVAL:
                self._last_decrease = now
                estimate = min(estimate, BETA * (acked if acked is not None else estimate))
        elif self.state == NORMAL and not self._loss_high:
            grown = estimate * (1 + GROWTH_PER_SECOND) ** elapsed
            acked = self.acked_bitrate
            if acked is not None:
                grown = min(grown, max(estimate, ACKED_HEADROOM * acked + ACKED_SLACK))
            estimate = grown
        self.estimate = max(MIN_BITRATE, min(MAX_BITRATE, estimate))
