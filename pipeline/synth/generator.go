package synth

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fraudstream/fraudstream/schemas"
)

// Kind says which record an Item carries.
type Kind uint8

const (
	// KindTransaction: Item.Tx is set (for the transactions topic).
	KindTransaction Kind = iota + 1
	// KindLabel: Item.Label is set (for the labels topic).
	KindLabel
)

func (k Kind) String() string {
	switch k {
	case KindTransaction:
		return "transaction"
	case KindLabel:
		return "label"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Fraud patterns, as reported in Item.Pattern (PatternNone for legitimate
// transactions).
const (
	PatternNone = ""
	// PatternCardTesting: a burst of 5–30 small amounts (0.50–5.00) at online
	// merchants, 0.3–90 s apart, from a fraudster's device; in 60% of bursts
	// one large online purchase (300–3,000) follows within 6 hours.
	PatternCardTesting = "card_testing"
	// PatternATO (account takeover): 4–15 purchases of 5–20× the card's
	// median amount over 1–3 days, at high-value online merchants the card
	// has not used, from a new device and IP.
	PatternATO = "ato"
	// PatternRiskyMerchant: 1–4 transactions at one of the few risky
	// merchants (1% of merchants, in gambling, crypto, money-transfer and
	// direct-marketing MCCs), where about 30% of all transactions are fraud
	// (ordinary merchants share those MCCs, so the MCC alone says less).
	PatternRiskyMerchant = "risky_merchant"
	// PatternGeoJump: 1–3 card-present transactions in a city at least
	// 3,000 km from home, the first 10 minutes to 2 hours after a
	// card-present transaction at home (impossible travel). Legitimate
	// travellers exist too, but never move faster than 800 km/h.
	PatternGeoJump = "geo_jump"
	// PatternMimicry is the fraud of the drift scenario (Config.DriftAt):
	// 3–10 online purchases over about a day of card-typical amounts at
	// merchants the card has not used, from a new device.
	PatternMimicry = "mimicry"
)

type pattern uint8

const (
	patNone pattern = iota
	patCardTesting
	patATO
	patRiskyMerchant
	patGeoJump
	patMimicry
	numPatterns
)

var patternNames = [numPatterns]string{
	PatternNone, PatternCardTesting, PatternATO, PatternRiskyMerchant, PatternGeoJump, PatternMimicry,
}

// Label sources.
const (
	SourceChargeback = "chargeback" // fraud labels
	SourceAnalyst    = "analyst"    // legitimate labels (Config.LegitLabelFraction)
)

// Item is one record of the stream, in arrival order.
//
// The pointer fields of Item.Tx (Country, DeviceID, IP, Lat, Lon) point at
// values the generator never changes and shares between items: copying a
// Transaction is enough to keep it, but never write through those pointers.
type Item struct {
	Kind  Kind
	Tx    schemas.Transaction // set when Kind == KindTransaction, else zero
	Label schemas.Label       // set when Kind == KindLabel, else zero
	// ArrivalMillis is the Kafka record timestamp to produce the record with
	// (Unix ms): event_time plus an ingestion delay for transactions (much
	// later for out-of-order ones), label_time for labels. Non-decreasing
	// along the stream.
	ArrivalMillis int64
	// IsFraud is the ground truth of the transaction (of the labelled
	// transaction for a label).
	IsFraud bool
	// Pattern is the fraud pattern (one of the Pattern constants) of the
	// transaction, or of the labelled transaction; "" when legitimate.
	Pattern string
}

// Generator produces the stream. It is not safe for concurrent use.
//
// How it works: every card has a legitimate stream of events (a thinned
// Poisson process following its daily rate and a weekly/diurnal profile) and,
// while compromised, a fraud stream; a scheduler compromises cards at random
// times at the rate that meets Config.FraudRate. The next event of every
// stream sits in a heap by event time, so transactions are generated in
// event-time order. Each generated transaction, and its label if it gets one,
// goes into a second heap by arrival time; an entry leaves that heap once no
// event still to be generated can arrive before it (every arrival is at or
// after its event time, and event times only grow).
//
// Memory is O(Cards + Merchants + records in flight): the records in flight
// are the labels not yet due (transaction rate × label fraction × mean label
// delay) and late transactions, never the history.
type Generator struct {
	cfg Config
	w   *world
	// Three independent random streams, so that changing how records arrive
	// (OutOfOrderFraction, delays) or which are labelled does not change the
	// transactions themselves.
	rng    *rand.Rand // world and transactions
	arrRng *rand.Rand // arrival delays
	labRng *rand.Rand // labels

	start, end int64 // event time bounds, Unix ms; end exclusive (MaxInt64 if unbounded)
	driftAt    int64 // MaxInt64 when there is no drift

	cards  []card
	accept [hoursPerWeek]float64 // thinning acceptance by local hour of week
	peak   float64               // max/mean of the weekly profile

	events    eventHeap
	pend      pendingHeap
	slots     []slot
	freeSlots []int32
	seq       uint64
	done      bool // no more events to generate

	// Fraud scheduler: the next time a card is compromised, and per phase
	// (0 before DriftAt, 1 after) the mean gap between compromises (ms) and
	// the cumulative probability of each pattern.
	schedNext  int64
	schedGapMs [2]float64
	patCDF     [2][]float64
	fraudDevs  []*string // devices fraudsters reuse across cards
	fraudIPs   []*string

	txCount uint64
	idBuf   []byte // "tx-" + seed tag + "-", then the counter
	idPre   int
}

type slot struct {
	tx      schemas.Transaction
	fraud   bool
	pattern pattern
}

type card struct {
	id        string
	device    *string
	device2   *string // a second device (nil for most cards)
	ip        *string
	home      int32
	tzMs      int64          // UTC offset of home, ms
	median    float64        // median amount, currency units
	sigma     float64        // log-normal sigma of amounts
	rate      float64        // mean transactions per day
	meanGapMs float64        // mean gap of the thinning proposal process
	favs      [maxFavs]int32 // favourite merchants, the first nFav used
	nFav      int32
	tripProne bool
	// The current or last trip. No transaction happens in flight, i.e. in
	// [depart, arrive) and [ret, back); card-present ones in [arrive, ret)
	// are in tripCity. Zero when no trip was planned.
	depart, arrive, ret, back int64
	tripCity                  int32
	// lastArrival is the arrival time of the card's latest on-time
	// transaction: on-time arrivals keep the card's event order.
	lastArrival int64
	ep          episode
}

// episode is the fraud running on a compromised card.
type episode struct {
	pattern  pattern // patNone when the card is not compromised
	armed    bool    // geo jump: waiting for a card-present transaction at home
	left     int32   // fraud transactions to come (card testing: small ones)
	bigFinal bool    // card testing: a large purchase follows the burst
	merchant int32
	city     int32
	gapMs    float64 // mean gap between the episode's transactions
	device   *string
	ip       *string
}

const (
	hoursPerWeek = 7 * 24
	msPerHour    = int64(3_600_000)
	msPerDay     = 24 * msPerHour
	msPerMinute  = int64(60_000)
	driftFactor  = 2.0      // legit amounts after DriftAt
	tripsPerDay  = 1.0 / 30 // for trip-prone cards
	maxFavs      = 12       // favourite merchants per card: 3–12
)

// Relative volume by local hour (0 = midnight) and by weekday (Monday
// first). Normalised in New so that a card's mean rate is its daily rate.
var (
	hourProfile = [24]float64{.15, .08, .05, .04, .05, .1, .3, .6, .9, 1, 1.1, 1.3,
		1.6, 1.4, 1.1, 1, 1.1, 1.3, 1.5, 1.4, 1.1, .8, .5, .3}
	weekdayProfile = [7]float64{.95, .95, 1, 1, 1.1, 1.2, .8}
)

// Fraud mix: share of fraud transactions per pattern, before and after
// DriftAt, and the mean number of transactions per episode (used to turn the
// target fraud rate into a rate of compromised cards).
var (
	fraudMix = [2][numPatterns]float64{
		{patCardTesting: .30, patATO: .35, patRiskyMerchant: .15, patGeoJump: .20},
		{patCardTesting: .15, patATO: .15, patRiskyMerchant: .07, patGeoJump: .08, patMimicry: .55},
	}
	meanEpisodeTx = [numPatterns]float64{
		patCardTesting:   17.5 + 0.6, // 5–30 small, 60% with a large one
		patATO:           9.5,        // 4–15
		patRiskyMerchant: 2.5,        // 1–4
		patGeoJump:       2,          // 1–3
		patMimicry:       6.5,        // 3–10
	}
)

// New builds the world of cfg and returns a generator at the start of its
// stream. It fails only when cfg.Validate does.
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Currencies = append([]string(nil), cfg.Currencies...)
	seed := uint64(cfg.Seed)
	g := &Generator{
		cfg:     cfg,
		rng:     rand.New(rand.NewPCG(seed, 0x6672617564_01)),
		arrRng:  rand.New(rand.NewPCG(seed, 0x6672617564_02)),
		labRng:  rand.New(rand.NewPCG(seed, 0x6672617564_03)),
		start:   cfg.Start.UnixMilli(),
		end:     cfg.endMillis(),
		driftAt: math.MaxInt64,
	}
	if !cfg.DriftAt.IsZero() {
		g.driftAt = cfg.DriftAt.UnixMilli()
	}
	g.buildWeekProfile()
	g.w = buildWorld(&cfg, g.rng)
	g.buildCards()
	g.buildFraudScheduler()

	// Transaction ids: "tx-" + 8 hex digits derived from the seed + "-" +
	// a 12-digit counter, e.g. "tx-1b873593-000000000001".
	tag := splitmix64(seed) >> 32
	g.idBuf = fmt.Appendf(nil, "tx-%08x-", tag)
	g.idPre = len(g.idBuf)
	return g, nil
}

func (g *Generator) buildWeekProfile() {
	sum, hi := 0.0, 0.0
	for h := range hoursPerWeek {
		v := weekdayProfile[h/24] * hourProfile[h%24]
		g.accept[h] = v
		sum += v
		hi = max(hi, v)
	}
	for h := range g.accept {
		g.accept[h] /= hi
	}
	g.peak = hi / (sum / hoursPerWeek)
}

func (g *Generator) buildCards() {
	w, rng := g.w, g.rng
	g.cards = make([]card, g.cfg.Cards)
	g.events = make(eventHeap, 0, 2*len(g.cards))
	for i := range g.cards {
		c := &g.cards[i]
		c.id = cardID(i)
		c.home = int32(pick(rng, w.homeCDF))
		c.tzMs = int64(w.cities[c.home].tzMin) * msPerMinute
		c.median = logUniform(rng, 10, 150)
		c.sigma = 0.4 + 0.5*rng.Float64()
		c.rate = logUniform(rng, 0.3, 4)
		c.meanGapMs = float64(msPerDay) / (c.rate * g.peak)
		c.device = randomDevice(rng)
		if rng.Float64() < 0.2 {
			c.device2 = randomDevice(rng)
		}
		c.ip = randomIP(rng, false)
		c.tripProne = rng.Float64() < 0.25
		nFav := int32(3 + rng.IntN(maxFavs-2))
		for c.nFav < nFav {
			var m int32
			if local := w.locatedByCity[c.home]; rng.Float64() < 0.75 {
				m = local[rng.IntN(len(local))]
			} else {
				m = w.online[rng.IntN(len(w.online))]
			}
			dup := false
			for _, f := range c.favs[:c.nFav] {
				dup = dup || f == m
			}
			if !dup || int(c.nFav) >= len(w.locatedByCity[c.home]) {
				c.favs[c.nFav] = m
				c.nFav++
			}
		}
		c.ep.merchant = -1
		g.events.push(eventRef{t: g.nextLegit(c, g.start), card: int32(i)})
	}
}

func (g *Generator) buildFraudScheduler() {
	g.schedNext = math.MaxInt64
	if g.cfg.FraudRate == 0 {
		return
	}
	rateSum := 0.0
	for i := range g.cards {
		rateSum += g.cards[i].rate
	}
	legitPerMs := rateSum / float64(msPerDay)
	fraudTxPerMs := legitPerMs * g.cfg.FraudRate / (1 - g.cfg.FraudRate)
	for phase := range 2 {
		episodesPerFraudTx := 0.0
		cdf := make([]float64, numPatterns)
		for p := range numPatterns {
			if meanEpisodeTx[p] > 0 {
				episodesPerFraudTx += fraudMix[phase][p] / meanEpisodeTx[p]
			}
			cdf[p] = episodesPerFraudTx
		}
		g.patCDF[phase] = cdf
		g.schedGapMs[phase] = 1 / (fraudTxPerMs * episodesPerFraudTx)
	}
	for range 64 {
		g.fraudDevs = append(g.fraudDevs, randomDevice(g.rng))
		g.fraudIPs = append(g.fraudIPs, randomIP(g.rng, true))
	}
	g.schedNext = g.start + g.expMs(g.schedGapMs[g.phase(g.start)])
}

func (g *Generator) phase(t int64) int {
	if t >= g.driftAt {
		return 1
	}
	return 0
}

// Next fills *it with the next item in arrival order and reports whether
// there was one: false once the stream of a bounded Config is exhausted
// (never for an unbounded one). *it is overwritten entirely.
func (g *Generator) Next(it *Item) bool {
	for {
		if len(g.pend) > 0 && (g.done || g.pend[0].arrival <= g.horizon()) {
			g.emit(it)
			return true
		}
		if g.done {
			return false
		}
		g.step()
	}
}

// horizon is a lower bound of the arrival time of every item not generated
// yet: the earliest next event (arrivals and label times are never before
// their event time, and event times are generated in non-decreasing order).
func (g *Generator) horizon() int64 {
	return min(g.events[0].t, g.schedNext)
}

// step generates the next event (or compromises a card) or sets g.done.
func (g *Generator) step() {
	next := g.events[0]
	if g.schedNext <= next.t {
		if g.schedNext >= g.end {
			g.done = true
			return
		}
		g.compromise(g.schedNext)
		return
	}
	if next.t >= g.end {
		g.done = true
		return
	}
	// The event's stream usually continues: its next event replaces the top
	// of the heap (one sift-down instead of a pop and a push). Events pushed
	// meanwhile are later than next, so next stays on top until then.
	var after int64
	if next.fraud {
		after = g.fraudEvent(next.card, next.t)
	} else {
		after = g.legitEvent(next.card, next.t)
	}
	if after < 0 {
		g.events.pop()
		return
	}
	next.t = after
	g.events.replaceTop(next)
}

func (g *Generator) emit(it *Item) {
	p := g.pend.pop()
	it.ArrivalMillis = p.arrival
	if p.slot >= 0 {
		s := &g.slots[p.slot]
		it.Kind = KindTransaction
		it.Tx = s.tx
		it.Label = schemas.Label{}
		it.IsFraud = s.fraud
		it.Pattern = patternNames[s.pattern]
		s.tx = schemas.Transaction{} // drop references
		g.freeSlots = append(g.freeSlots, p.slot)
		return
	}
	it.Kind = KindLabel
	it.Tx = schemas.Transaction{}
	src := SourceAnalyst
	if p.fraud {
		src = SourceChargeback
	}
	it.Label = schemas.Label{
		TransactionID: p.txID,
		CardID:        g.cards[p.card].id,
		IsFraud:       p.fraud,
		LabelTime:     p.arrival,
		Source:        src,
	}
	it.IsFraud = p.fraud
	it.Pattern = patternNames[p.pattern]
}

// nextLegit returns the time of the card's next legitimate transaction after
// from, by thinning: proposals come at the profile's peak rate and are kept
// with probability profile(local hour of week)/peak, so the mean rate is
// c.rate per day. Proposals in flight are dropped.
func (g *Generator) nextLegit(c *card, from int64) int64 {
	t := from
	for {
		t += int64(g.rng.ExpFloat64()*c.meanGapMs) + 1
		if t >= g.end {
			return t
		}
		if (t >= c.depart && t < c.arrive) || (t >= c.ret && t < c.back) {
			continue
		}
		if g.rng.Float64() < g.accept[hourOfWeek(t+c.tzMs)] {
			return t
		}
	}
}

// hourOfWeek returns the hour of the week (0 = Monday 00:00) of a Unix ms
// time (1970-01-01 was a Thursday, hour 72).
func hourOfWeek(ms int64) int {
	h := ms / msPerHour
	if ms < 0 && ms%msPerHour != 0 {
		h--
	}
	r := (h + 72) % hoursPerWeek
	if r < 0 {
		r += hoursPerWeek
	}
	return int(r)
}

// legitEvent generates the card's legitimate transaction at t and returns the
// time of its next one.
func (g *Generator) legitEvent(ci int32, t int64) int64 {
	c := &g.cards[ci]
	w, rng := g.w, g.rng
	where := c.home
	travelling := c.arrive != 0 && t >= c.arrive && t < c.ret
	if travelling {
		where = c.tripCity
	}
	mult := 1.0
	var m int32
	remote := false // bought online from a merchant that also has shops
	switch u := rng.Float64(); {
	case travelling:
		if u < 0.8 {
			m = oneOf(rng, w.locatedByCity[where])
		} else {
			m = oneOf(rng, w.online)
		}
	case u < 0.004:
		// A legitimate large purchase (5–25× the usual), so that a large
		// amount at a new merchant is not proof of takeover.
		mult = 5 + 20*rng.Float64()
		if hv := w.highValueByCity[where]; len(hv) > 0 && rng.Float64() < 0.5 {
			m = oneOf(rng, hv)
		} else {
			m = oneOf(rng, w.highValueOnline)
			remote = true // the shop may be abroad: buy online
		}
	case u < 0.007:
		m = oneOf(rng, w.risky) // cardholders gamble and buy crypto too
	case u < 0.78:
		r := rng.Float64()
		m = c.favs[int(float64(c.nFav)*r*r)] // the first favourites are used most
	case u < 0.95:
		m = oneOf(rng, w.locatedByCity[where])
	default:
		m = oneOf(rng, w.online)
	}
	mer := &w.merchants[m]
	var ch channel
	if remote {
		ch = g.drawOnlineChannel(mer.cat)
	} else {
		ch = g.drawChannel(mer.cat, false)
	}
	amount := c.median * w.cats[mer.cat].amount * math.Exp(c.sigma*rng.NormFloat64()) * mult
	if t >= g.driftAt {
		amount *= driftFactor
	}
	if ch == chATM {
		amount = math.Max(20, math.Round(amount/10)*10)
	}
	var dev, ip *string
	if ch == chEcom {
		dev, ip = c.device, c.ip
		if c.device2 != nil && rng.Float64() < 0.3 {
			dev = c.device2
		}
	}
	g.record(ci, t, m, ch, amount, dev, ip, patNone)

	if c.ep.armed && ch.cardPresent() && where == c.home {
		// Geo jump: the cloned card is used far away shortly after this
		// genuine card-present transaction at home.
		c.ep.armed = false
		far := w.farFrom[c.home]
		c.ep.city = far[rng.IntN(len(far))]
		g.events.push(eventRef{t: t + uniformMs(rng, 10*msPerMinute, 2*msPerHour), card: ci, fraud: true})
	}
	if c.tripProne && !travelling && t >= c.back && rng.Float64() < tripsPerDay/c.rate {
		g.planTrip(c, t)
	}
	return g.nextLegit(c, t)
}

// planTrip schedules a legitimate trip: departure in 2–48 hours, to another
// home city (60%) or abroad, flying at 800 km/h plus 90 minutes at airports,
// staying 2–14 days.
func (g *Generator) planTrip(c *card, t int64) {
	rng, w := g.rng, g.w
	var dest int32
	if rng.Float64() < 0.6 {
		dest = oneOf(rng, w.nearHomes[c.home])
	} else {
		dest = oneOf(rng, w.abroad)
	}
	flight := int64(w.distKm(c.home, dest)/800*float64(msPerHour)) + 90*msPerMinute
	c.tripCity = dest
	c.depart = t + uniformMs(rng, 2*msPerHour, 48*msPerHour)
	c.arrive = c.depart + flight
	c.ret = c.arrive + uniformMs(rng, 2*msPerDay, 14*msPerDay)
	c.back = c.ret + flight
}

// compromise starts a fraud episode on a random card at time t and schedules
// the next compromise.
func (g *Generator) compromise(t int64) {
	rng := g.rng
	ph := g.phase(t)
	p := pattern(pick(rng, g.patCDF[ph]))
	// Pick a card not already compromised; give up after a few tries (only
	// matters for tiny populations).
	for range 16 {
		ci := int32(rng.IntN(len(g.cards)))
		if c := &g.cards[ci]; c.ep.pattern == patNone {
			g.startEpisode(ci, p, t)
			break
		}
	}
	next := t + g.expMs(g.schedGapMs[ph])
	if ph == 0 && next >= g.driftAt {
		// The gaps are memoryless: restart at DriftAt with the new rate.
		next = g.driftAt + g.expMs(g.schedGapMs[1])
	}
	g.schedNext = next
}

func (g *Generator) startEpisode(ci int32, p pattern, t int64) {
	c := &g.cards[ci]
	rng, w := g.rng, g.w
	ep := episode{pattern: p, merchant: -1}
	if rng.Float64() < 0.5 {
		// Fraudsters reuse their devices across stolen cards.
		k := rng.IntN(len(g.fraudDevs))
		ep.device, ep.ip = g.fraudDevs[k], g.fraudIPs[k]
	} else {
		ep.device, ep.ip = randomDevice(rng), randomIP(rng, true)
	}
	switch p {
	case patCardTesting:
		ep.left = 5 + int32(rng.IntN(26))
		ep.bigFinal = rng.Float64() < 0.6
		ep.merchant = oneOf(rng, w.testing)
	case patATO:
		ep.left = 4 + int32(rng.IntN(12))
		ep.gapMs = float64(uniformMs(rng, msPerDay, 3*msPerDay)) / float64(ep.left)
	case patRiskyMerchant:
		ep.left = 1 + int32(rng.IntN(4))
		ep.merchant = oneOf(rng, w.risky)
		ep.gapMs = float64(30 * msPerMinute)
	case patGeoJump:
		ep.left = 1 + int32(rng.IntN(3))
		ep.gapMs = float64(20 * msPerMinute)
		ep.armed = true // fires on the card's next card-present transaction at home
	case patMimicry:
		ep.left = 3 + int32(rng.IntN(8))
		ep.gapMs = float64(3 * msPerHour)
	}
	c.ep = ep
	if !ep.armed {
		g.events.push(eventRef{t: t, card: ci, fraud: true})
	}
}

// fraudEvent generates the transaction at t of the episode running on the
// card and returns the time of the episode's next one, or -1 if it is over.
func (g *Generator) fraudEvent(ci int32, t int64) int64 {
	c := &g.cards[ci]
	ep := &c.ep
	rng, w := g.rng, g.w
	var (
		m      int32
		ch     channel
		amount float64
		gap    int64 // to the episode's next transaction
	)
	switch ep.pattern {
	case patCardTesting:
		if ep.left > 0 {
			if rng.Float64() < 0.15 {
				ep.merchant = oneOf(rng, w.testing)
			}
			m = ep.merchant
			ch = chEcom
			amount = 0.5 + 4.5*rng.Float64()
			if rng.Float64() < 0.3 {
				amount = math.Round(amount)
			}
			ep.left--
			switch {
			case ep.left > 0:
				gap = int64(logUniform(rng, 300, 90_000))
			case ep.bigFinal:
				ep.bigFinal = false // next (left == 0): the large purchase
				gap = uniformMs(rng, msPerMinute, 6*msPerHour)
			default:
				gap = -1
			}
		} else {
			m = oneOf(rng, w.highValueOnline)
			ch = chEcom
			amount = 300 + 2700*rng.Float64()
			gap = -1
		}
	case patATO:
		if rng.Float64() < 0.7 {
			m = oneOf(rng, w.highValueOnline)
		} else {
			m = oneOf(rng, w.online)
		}
		ch = g.drawOnlineChannel(w.merchants[m].cat)
		amount = c.median * (5 + 15*rng.Float64()) * math.Exp(0.25*rng.NormFloat64())
		gap = g.episodeGap(ep)
	case patRiskyMerchant:
		if rng.Float64() < 0.2 {
			ep.merchant = oneOf(rng, w.risky)
		}
		m = ep.merchant
		ch = g.drawOnlineChannel(w.merchants[m].cat)
		amount = math.Exp(math.Log(150) + 0.6*rng.NormFloat64())
		gap = g.episodeGap(ep)
	case patGeoJump:
		m = oneOf(rng, w.locatedByCity[ep.city])
		ch = g.drawChannel(w.merchants[m].cat, true)
		if ch == chATM {
			amount = math.Round((200+800*rng.Float64())/10) * 10
		} else {
			amount = c.median * w.cats[w.merchants[m].cat].amount * (2 + 6*rng.Float64())
		}
		gap = g.episodeGap(ep)
	case patMimicry:
		m = oneOf(rng, w.online)
		ch = g.drawOnlineChannel(w.merchants[m].cat)
		amount = c.median * w.cats[w.merchants[m].cat].amount * math.Exp(c.sigma*rng.NormFloat64()) * driftFactor
		gap = g.episodeGap(ep)
	default:
		panic("synth: fraud event on a card with no episode")
	}
	var dev, ip *string
	if ch == chEcom {
		dev, ip = ep.device, ep.ip
	}
	g.record(ci, t, m, ch, amount, dev, ip, ep.pattern)
	if gap >= 0 {
		return t + gap
	}
	*ep = episode{merchant: -1} // episode over: the card can be compromised again
	return -1
}

// record creates the transaction and its label (if any) and queues them by
// arrival time.
func (g *Generator) record(ci int32, t int64, m int32, ch channel, amount float64, dev, ip *string, p pattern) {
	c := &g.cards[ci]
	mer := &g.w.merchants[m]
	var si int32
	if n := len(g.freeSlots); n > 0 {
		si = g.freeSlots[n-1]
		g.freeSlots = g.freeSlots[:n-1]
	} else {
		si = int32(len(g.slots))
		g.slots = append(g.slots, slot{})
	}
	s := &g.slots[si]
	s.fraud = p != patNone
	s.pattern = p
	tx := &s.tx
	tx.TransactionID = g.nextTxID()
	tx.CardID = c.id
	tx.MerchantID = mer.id
	tx.MCC = g.w.cats[mer.cat].mcc
	tx.Amount = min(max(round2(amount), 0.01), 999_999.99)
	tx.Currency = g.w.cityCur[mer.city]
	tx.EventTime = t
	tx.Channel = channelNames[ch]
	tx.Country = &g.w.cities[mer.city].country
	if ch.cardPresent() {
		tx.Lat, tx.Lon = &mer.lat, &mer.lon
	} else {
		tx.Lat, tx.Lon = nil, nil
	}
	tx.DeviceID, tx.IP = dev, ip

	var arrival int64
	if g.cfg.OutOfOrderFraction > 0 && g.arrRng.Float64() < g.cfg.OutOfOrderFraction {
		arrival = t + int64(logUniform(g.arrRng, float64(g.cfg.LateDelayMin.Milliseconds()), float64(g.cfg.LateDelayMax.Milliseconds())))
	} else {
		d := 20 + int64(g.arrRng.ExpFloat64()*300)
		arrival = max(t+min(d, IngestionDelayMax.Milliseconds()), c.lastArrival)
		c.lastArrival = arrival
	}
	g.seq++
	g.pend.push(pending{arrival: arrival, seq: g.seq, slot: si, card: ci, fraud: s.fraud, pattern: p})

	if s.fraud || (g.cfg.LegitLabelFraction > 0 && g.labRng.Float64() < g.cfg.LegitLabelFraction) {
		lo, hi := g.cfg.LabelDelayMin.Milliseconds(), g.cfg.LabelDelayMax.Milliseconds()
		u := g.labRng.Float64()
		lt := max(t+lo+int64(float64(hi-lo)*u*u), arrival+1000)
		g.seq++
		g.pend.push(pending{arrival: lt, seq: g.seq, slot: -1, txID: tx.TransactionID, card: ci, fraud: s.fraud, pattern: p})
	}
}

// nextTxID returns the next transaction id; one allocation (the string).
func (g *Generator) nextTxID() string {
	g.txCount++
	b := g.idBuf[:g.idPre]
	var d [20]byte
	i := len(d)
	for n := g.txCount; n > 0; n /= 10 {
		i--
		d[i] = byte('0' + n%10)
	}
	for k := len(d) - i; k < 12; k++ {
		b = append(b, '0')
	}
	b = append(b, d[i:]...)
	g.idBuf = b
	return string(b)
}

// drawChannel draws a channel from the category's mix, only among the
// card-present channels if cardPresent (the category must have one).
func (g *Generator) drawChannel(cat int32, cardPresent bool) channel {
	if cardPresent {
		ws := &g.w.cats[cat].channels
		tot := ws[chPOS] + ws[chContactless] + ws[chATM]
		u := g.rng.Float64() * tot
		switch {
		case u < ws[chPOS]:
			return chPOS
		case u < ws[chPOS]+ws[chContactless]:
			return chContactless
		}
		return chATM
	}
	cdf := &g.w.channelCDF[cat]
	u := g.rng.Float64()
	for ch := range numChannels - 1 {
		if u < cdf[ch] {
			return ch
		}
	}
	return numChannels - 1
}

// drawOnlineChannel is ecom when the category takes it, else moto, else the
// category's own mix.
func (g *Generator) drawOnlineChannel(cat int32) channel {
	ws := &g.w.cats[cat].channels
	switch {
	case ws[chEcom] > 0:
		return chEcom
	case ws[chMOTO] > 0:
		return chMOTO
	}
	return g.drawChannel(cat, false)
}

// episodeGap counts one transaction of the episode and returns the gap to
// the next one, or -1 when the episode is over.
func (g *Generator) episodeGap(ep *episode) int64 {
	ep.left--
	if ep.left <= 0 {
		return -1
	}
	return g.expMs(ep.gapMs)
}

func (g *Generator) expMs(mean float64) int64 { return int64(g.rng.ExpFloat64()*mean) + 1 }

func oneOf(rng *rand.Rand, s []int32) int32 { return s[rng.IntN(len(s))] }

func uniformMs(rng *rand.Rand, lo, hi int64) int64 { return lo + rng.Int64N(hi-lo+1) }

func logUniform(rng *rand.Rand, lo, hi float64) float64 {
	return math.Exp(math.Log(lo) + rng.Float64()*(math.Log(hi)-math.Log(lo)))
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
