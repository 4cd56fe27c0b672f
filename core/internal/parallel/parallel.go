// Package parallel runs the independent network calls of one request at the same time, so a
// request costs the latency of its slowest call rather than the sum of them.
package parallel

import "sync"

// Do runs fns concurrently and returns when all of them have. The first runs on the calling
// goroutine, so Do of one function starts no goroutine.
func Do(fns ...func()) {
	if len(fns) == 0 {
		return
	}
	var wg sync.WaitGroup
	for _, f := range fns[1:] {
		wg.Go(f)
	}
	fns[0]()
	wg.Wait()
}

// First returns the first non-nil error of errs, in the order given: the order callers list
// them in is the order of precedence of their answers.
func First(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
