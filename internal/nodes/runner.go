package nodes

import (
	"context"
	"sync"
)

// Result is one node's outcome of a parallel run.
type Result[T any] struct {
	Index int
	Value T
	Err   error
}

// Parallel calls fn for every item with at most limit calls in flight and
// returns the results in input order. One failing item never stops the
// others unless failFast is set, in which case items not yet started are
// skipped with context.Canceled. Cancelling ctx stops new starts; calls in
// flight see the cancelled context.
func Parallel[I, T any](ctx context.Context, items []I, limit int, failFast bool, fn func(ctx context.Context, item I) (T, error)) []Result[T] {
	if limit < 1 {
		limit = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]Result[T], len(items))
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, it := range items {
		results[i].Index = i
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			results[i].Err = context.Cause(ctx)
			continue
		}
		wg.Add(1)
		go func(i int, it I) {
			defer wg.Done()
			defer func() { <-sem }()
			v, err := fn(ctx, it)
			results[i].Value, results[i].Err = v, err
			if err != nil && failFast {
				cancel()
			}
		}(i, it)
	}
	wg.Wait()
	return results
}
