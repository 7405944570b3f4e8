package synth_test

import (
	"fmt"
	"time"

	"github.com/fraudstream/fraudstream/pipeline/synth"
)

func Example() {
	cfg := synth.DefaultConfig()
	cfg.Seed = 7
	cfg.Cards = 1000
	cfg.Duration = 7 * 24 * time.Hour
	g, err := synth.New(cfg)
	if err != nil {
		panic(err)
	}
	var it synth.Item
	for g.Next(&it) {
		switch it.Kind {
		case synth.KindTransaction:
			_ = it.Tx // produce to the transactions topic, key it.Tx.CardID, timestamp it.ArrivalMillis
		case synth.KindLabel:
			_ = it.Label // produce to the labels topic, key it.Label.CardID, timestamp it.ArrivalMillis
		}
	}
	fmt.Println("done")
	// Output: done
}
