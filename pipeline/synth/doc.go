// Package synth simulates card transactions with injected fraud, for
// `fraudstream produce --synthetic`, `fraudstream dev` and the training set of
// the default model.
//
// Start with [DefaultConfig] and [New], then call [Generator.Next] until it
// returns false:
//
//	g, err := synth.New(synth.DefaultConfig())
//	var it synth.Item
//	for g.Next(&it) {
//		// it.Kind is KindTransaction (it.Tx) or KindLabel (it.Label);
//		// produce it with Kafka record timestamp it.ArrivalMillis.
//	}
//
// The items come in arrival order, the order in which they are written to
// Kafka: transactions shortly after their event time (a configured fraction
// much later: out-of-order events), labels at their label time, days to weeks
// after the transaction. Item.IsFraud and Item.Pattern carry the ground truth
// for tests and training; they are not part of the records.
//
// # The simulated world
//
// Cards live in European, British and American cities. Each has a spending
// profile (log-normal amounts around a card-specific median of 10–150, 0.3–4
// transactions a day following a weekly and diurnal profile in local time),
// a few favourite merchants, one or two devices and an IP for online
// shopping; a quarter of the cards travel now and then (other cities, far
// countries), at plausible speeds. Merchants have an MCC, a location, a
// currency and a channel mix (pos, contactless, ecom, atm, moto). Some
// legitimate purchases are large, and some cardholders use risky merchants,
// so no single feature separates fraud from legitimate use.
//
// Fraud comes in episodes on compromised cards: card testing, account
// takeover, risky merchants and geography jumps (see the Pattern constants),
// at the rate that meets Config.FraudRate; the patterns are meant to be
// learnable from per-card window features (amount vs the card's 7d/30d/90d
// mean and std, counts in the last hour, seconds since the previous
// transaction, new merchant, distance and speed from the previous
// transaction, country change, MCC, channel, hour of day).
//
// # Guarantees
//
//   - Deterministic: the same Config gives the same items, bit for bit. All
//     randomness comes from PCG generators seeded from Config.Seed; no clock,
//     no global random source, no map iteration. The transactions do not
//     depend on OutOfOrderFraction, the delays or LegitLabelFraction (those
//     use their own random streams), only their arrival does.
//   - ArrivalMillis never decreases along the stream; a label always comes
//     after its transaction; every fraud transaction has exactly one label.
//   - Transaction ids are unique within a stream ("tx-", a tag of the seed,
//     "-", a 12-digit counter); card ids are "card-000123", merchant ids "m-01234".
//   - Memory is bounded by the number of cards and merchants and the records
//     in flight (labels not yet due, late transactions), not by history.
//   - Cost: about 1 µs and one allocation (the transaction id) per item on
//     one core; see BenchmarkNext.
package synth
