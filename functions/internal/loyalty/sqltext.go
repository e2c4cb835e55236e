package loyalty

import "sync"

// builtSQL keeps SQL texts that are built from this package's fragments, each built the first
// time it is asked for and then reused. Their inputs are constants of the package (a
// condition, which of two writes), so there are a handful of texts; building them on every
// call (an earn's write is a few KB) was a tenth of what an earn allocated. Never key one by
// input from a request: the texts are kept for the life of the process.
type builtSQL[K comparable] struct {
	build func(K) string
	texts sync.Map // K → string
}

func newBuiltSQL[K comparable](build func(K) string) *builtSQL[K] {
	return &builtSQL[K]{build: build}
}

// text is the SQL built for k.
func (b *builtSQL[K]) text(k K) string {
	if s, ok := b.texts.Load(k); ok {
		return s.(string)
	}
	s, _ := b.texts.LoadOrStore(k, b.build(k))
	return s.(string)
}
