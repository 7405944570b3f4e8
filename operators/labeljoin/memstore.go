package labeljoin

import "sort"

// MemStore is an in-memory Store (tests, offline evaluation).
type MemStore struct {
	Decisions map[string]Decision
	Labels    map[string]Label
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{Decisions: map[string]Decision{}, Labels: map[string]Label{}}
}

func (m *MemStore) GetDecision(id string) (Decision, bool, error) {
	d, ok := m.Decisions[id]
	return d, ok, nil
}
func (m *MemStore) PutDecision(d *Decision) error { m.Decisions[d.TransactionID] = *d; return nil }
func (m *MemStore) DeleteDecision(d *Decision) error {
	delete(m.Decisions, d.TransactionID)
	return nil
}
func (m *MemStore) GetLabel(id string) (Label, bool, error) { l, ok := m.Labels[id]; return l, ok, nil }
func (m *MemStore) PutLabel(l *Label) error                 { m.Labels[l.TransactionID] = *l; return nil }
func (m *MemStore) DeleteLabel(l *Label) error              { delete(m.Labels, l.TransactionID); return nil }

// ExpiredDecisions visits decisions with EventTime < before, oldest first
// (ties by id).
func (m *MemStore) ExpiredDecisions(before int64, max int, fn func(*Decision) error) error {
	var ds []Decision
	for _, d := range m.Decisions {
		if d.EventTime < before {
			ds = append(ds, d)
		}
	}
	sort.Slice(ds, func(i, j int) bool {
		if ds[i].EventTime != ds[j].EventTime {
			return ds[i].EventTime < ds[j].EventTime
		}
		return ds[i].TransactionID < ds[j].TransactionID
	})
	for i := range ds {
		if i == max {
			break
		}
		if err := fn(&ds[i]); err != nil {
			return err
		}
	}
	return nil
}

// ExpiredLabels visits waiting labels with LabelTime < before, oldest first.
func (m *MemStore) ExpiredLabels(before int64, max int, fn func(*Label) error) error {
	var ls []Label
	for _, l := range m.Labels {
		if l.LabelTime < before {
			ls = append(ls, l)
		}
	}
	sort.Slice(ls, func(i, j int) bool {
		if ls[i].LabelTime != ls[j].LabelTime {
			return ls[i].LabelTime < ls[j].LabelTime
		}
		return ls[i].TransactionID < ls[j].TransactionID
	})
	for i := range ls {
		if i == max {
			break
		}
		if err := fn(&ls[i]); err != nil {
			return err
		}
	}
	return nil
}
