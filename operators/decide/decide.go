// Package decide turns a model score into an action, with logged exploration.
//
// score ≥ threshold ⇒ flagged ⇒ decline, except that a share ε of flagged
// transactions is approved instead (explored = true), so that their fraud
// labels, arriving days later, measure the model without the feedback-loop
// bias the seed warns about (a model never learns the outcome of what it
// declines). Every decision records its propensity, the probability that the
// policy takes the action it took, so outcomes can be weighted by
// 1/propensity (Stripe Radar's counterfactual evaluation).
//
// Which flagged transactions are explored is decided by hashing, never by a
// random number generator, exactly like the seed's A/B bucketing:
//
//	bucket = int(md5(f"{seed}:{transaction_id}").hexdigest(), 16) % 1000
//	explored = bucket < ε·1000
//
// so a replay decides identically and an analyst can recompute it in Python.
package decide

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/fraudstream/fraudstream/schemas"
)

// Buckets is the number of hash buckets (the seed's 1000): ε must be a
// multiple of 1/Buckets so that the logged propensity is exact.
const Buckets = 1000

// Policy maps scores to actions.
type Policy struct {
	// Threshold: score ≥ Threshold ⇒ flagged. In [0, 1].
	Threshold float64
	// ReviewFrom, when in (0, Threshold), sends scores in [ReviewFrom,
	// Threshold) to manual review (action review, not flagged, propensity 1).
	// 0 disables the review band.
	ReviewFrom float64
	// Epsilon is the share of flagged transactions approved for exploration,
	// in [0, 0.5], a multiple of 0.001. Default 0.05.
	Epsilon float64
	// Seed names the exploration experiment; changing it re-draws which
	// transactions are explored.
	Seed string

	exploreBuckets uint64
}

// Compile validates the policy and prepares it for Decide.
func (p *Policy) Compile() error {
	if !(p.Threshold >= 0 && p.Threshold <= 1) {
		return fmt.Errorf("decision threshold %v must be in [0, 1]", p.Threshold)
	}
	if p.ReviewFrom != 0 && !(p.ReviewFrom > 0 && p.ReviewFrom < p.Threshold) {
		return fmt.Errorf("decision review_from %v must be 0 (off) or in (0, threshold=%v)", p.ReviewFrom, p.Threshold)
	}
	if !(p.Epsilon >= 0 && p.Epsilon <= 0.5) {
		return fmt.Errorf("decision epsilon %v must be in [0, 0.5]", p.Epsilon)
	}
	b := p.Epsilon * Buckets
	if math.Abs(b-math.Round(b)) > 1e-9 {
		return fmt.Errorf("decision epsilon %v must be a multiple of %v (hash buckets), e.g. %v", p.Epsilon, 1.0/Buckets, math.Round(b)/Buckets)
	}
	p.exploreBuckets = uint64(math.Round(b))
	return nil
}

// Outcome is what the policy decided for one transaction.
type Outcome struct {
	Action     string
	Flagged    bool
	Explored   bool
	Propensity float64
}

// Bucket returns the seed-style hash bucket of (seed, transactionID) in
// [0, Buckets): md5 of "seed:transaction_id" as a 128-bit big-endian integer,
// modulo Buckets.
func Bucket(seed, transactionID string) uint64 {
	var buf [128]byte
	b := append(buf[:0], seed...)
	b = append(b, ':')
	b = append(b, transactionID...)
	sum := md5.Sum(b)
	hi := binary.BigEndian.Uint64(sum[:8])
	lo := binary.BigEndian.Uint64(sum[8:])
	// (hi·2^64 + lo) mod 1000, with 2^64 mod 1000 = 616.
	return ((hi%Buckets)*(1<<64%Buckets) + lo%Buckets) % Buckets
}

// Decide returns the outcome for a transaction with the given score.
func (p *Policy) Decide(transactionID string, score float64) Outcome {
	if score >= p.Threshold {
		if p.exploreBuckets > 0 && Bucket(p.Seed, transactionID) < p.exploreBuckets {
			return Outcome{Action: schemas.ActionApprove, Flagged: true, Explored: true, Propensity: float64(p.exploreBuckets) / Buckets}
		}
		return Outcome{Action: schemas.ActionDecline, Flagged: true, Propensity: float64(Buckets-p.exploreBuckets) / Buckets}
	}
	if p.ReviewFrom > 0 && score >= p.ReviewFrom {
		return Outcome{Action: schemas.ActionReview, Propensity: 1}
	}
	return Outcome{Action: schemas.ActionApprove, Propensity: 1}
}

// String describes the policy for logs.
func (p *Policy) String() string {
	return "threshold=" + strconv.FormatFloat(p.Threshold, 'g', -1, 64) +
		" review_from=" + strconv.FormatFloat(p.ReviewFrom, 'g', -1, 64) +
		" epsilon=" + strconv.FormatFloat(p.Epsilon, 'g', -1, 64) + " seed=" + p.Seed
}
