package nodes

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestParallelBoundsAndOrder(t *testing.T) {
	var inFlight, peak atomic.Int32
	items := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	res := Parallel(context.Background(), items, 3, false, func(ctx context.Context, i int) (int, error) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		inFlight.Add(-1)
		if i == 4 {
			return 0, errors.New("boom")
		}
		return i * 10, nil
	})
	if peak.Load() > 3 || peak.Load() < 2 {
		t.Errorf("peak parallelism %d, want 2..3", peak.Load())
	}
	for i, r := range res {
		if i == 4 {
			if r.Err == nil {
				t.Error("item 4 should fail")
			}
			continue
		}
		if r.Err != nil || r.Value != i*10 || r.Index != i {
			t.Errorf("result %d = %+v", i, r)
		}
	}
}

func TestParallelFailFast(t *testing.T) {
	var started atomic.Int32
	res := Parallel(context.Background(), make([]int, 20), 1, true, func(ctx context.Context, _ int) (int, error) {
		if started.Add(1) == 2 {
			return 0, errors.New("boom")
		}
		return 1, nil
	})
	if started.Load() != 2 {
		t.Errorf("started %d items after a failure with fail-fast, want 2", started.Load())
	}
	if !errors.Is(res[19].Err, context.Canceled) {
		t.Errorf("skipped item err = %v, want context.Canceled", res[19].Err)
	}
}
