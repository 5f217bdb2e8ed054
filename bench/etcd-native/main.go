// etcd-load: the benchmark's load generator for etcd through its own Go client (clientv3, gRPC), so that
// etcd is also measured the way its users drive it, without the JSON gateway's extra hop. It runs one
// job, read as JSON on stdin (the fields of bench/loadgen/protocol.ts LoadJob, plus endpoints and
// connections), and writes one result as JSON on stdout, with latencies in the same log-bucket histogram
// as bench/histogram.ts so that the orchestrator reads both systems alike.
//
// Like the Node workers, every client is a closed loop: it sends one request, waits for the answer,
// records the latency, and sends the next. Clients share `conns` gRPC connections in turn.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Histogram constants: as in bench/histogram.ts.
const (
	histogramPrecisionRatio = 0.01
	histogramMinUs          = 1.0
	histogramMaxUs          = 600_000_000.0
	requestTimeout          = 15 * time.Second
	errorSamplesMax         = 3
	errorDetailMaxChars     = 200
)

var (
	logBase = math.Log1p(histogramPrecisionRatio)
	buckets = int(math.Ceil(math.Log(histogramMaxUs/histogramMinUs)/logBase)) + 1
)

type operation struct {
	Kind        string `json:"kind"`
	ReadPercent int    `json:"readPercent"`
	// watch-fanout: watchers on the prefix, and closed-loop writers.
	Watchers int `json:"watchers"`
	Writers  int `json:"writers"`
	// lease: the TTL of each granted lease.
	TTLMs int `json:"ttlMs"`
}

type job struct {
	Endpoints      []string  `json:"endpoints"`
	Conns          int       `json:"conns"`
	Operation      operation `json:"operation"`
	Clients        int       `json:"clients"`
	WarmupMs       int       `json:"warmupMs"`
	DurationMs     int       `json:"durationMs"`
	OpsTotal       *int      `json:"opsTotal"`
	KeySizeBytes   int       `json:"keySizeBytes"`
	KeyPrefix      string    `json:"keyPrefix"`
	KeySpace       int       `json:"keySpace"`
	SequentialKeys bool      `json:"sequentialKeys"`
	KeyFirst       int       `json:"keyFirst"`
	ValueSizeBytes int       `json:"valueSizeBytes"`
}

type errorSample struct {
	Status *int   `json:"status"`
	Detail string `json:"detail"`
}

type histogramData struct {
	Buckets [][2]float64 `json:"buckets"`
	Count   float64      `json:"count"`
	SumUs   float64      `json:"sumUs"`
	MaxUs   float64      `json:"maxUs"`
}

type result struct {
	Ops          int           `json:"ops"`
	Errors       int           `json:"errors"`
	ErrorSamples []errorSample `json:"errorSamples"`
	ElapsedMs    float64       `json:"elapsedMs"`
	Latency      histogramData `json:"latency"`
}

type histogram struct {
	mu     sync.Mutex
	counts []float64
	total  float64
	sumUs  float64
	maxUs  float64
}

func newHistogram() *histogram { return &histogram{counts: make([]float64, buckets)} }

func (h *histogram) record(d time.Duration) {
	us := math.Max(histogramMinUs, float64(d.Nanoseconds())/1000)
	b := int(math.Floor(math.Log(us/histogramMinUs) / logBase))
	if b > buckets-1 {
		b = buckets - 1
	}
	h.mu.Lock()
	h.counts[b]++
	h.total++
	h.sumUs += us
	if us > h.maxUs {
		h.maxUs = us
	}
	h.mu.Unlock()
}

func (h *histogram) data() histogramData {
	d := histogramData{Buckets: [][2]float64{}, Count: h.total, SumUs: h.sumUs, MaxUs: h.maxUs}
	for b, n := range h.counts {
		if n > 0 {
			d.Buckets = append(d.Buckets, [2]float64{float64(b), n})
		}
	}
	return d
}

// The measured window and its counters, shared by the clients of a job.
type window struct {
	job          job
	start        time.Time
	measureFrom  time.Time
	measureUntil time.Time
	hist         *histogram
	ops          atomic.Int64
	errors       atomic.Int64
	issued       atomic.Int64
	mu           sync.Mutex
	samples      []errorSample
}

func newWindow(j job) *window {
	w := &window{job: j, start: time.Now(), hist: newHistogram()}
	if j.OpsTotal == nil {
		w.measureFrom = w.start.Add(time.Duration(j.WarmupMs) * time.Millisecond)
		w.measureUntil = w.measureFrom.Add(time.Duration(j.DurationMs) * time.Millisecond)
	} else {
		w.measureFrom = w.start
		w.measureUntil = time.Unix(1<<40, 0)
	}
	return w
}

// more: whether a client should send another request.
func (w *window) more() bool {
	if w.job.OpsTotal == nil {
		return time.Now().Before(w.measureUntil)
	}
	return w.issued.Add(1) <= int64(*w.job.OpsTotal)
}

func (w *window) done(t0, t1 time.Time, err error) {
	counted := !t0.Before(w.measureFrom) && !t1.After(w.measureUntil)
	if err == nil {
		if counted {
			w.ops.Add(1)
			w.hist.record(t1.Sub(t0))
		}
		return
	}
	if counted {
		w.errors.Add(1)
	}
	w.mu.Lock()
	if len(w.samples) < errorSamplesMax {
		detail := err.Error()
		if len(detail) > errorDetailMaxChars {
			detail = detail[:errorDetailMaxChars]
		}
		w.samples = append(w.samples, errorSample{Detail: detail})
	}
	w.mu.Unlock()
}

func (w *window) result() result {
	end := time.Now()
	if end.After(w.measureUntil) {
		end = w.measureUntil
	}
	return result{
		Ops:          int(w.ops.Load()),
		Errors:       int(w.errors.Load()),
		ErrorSamples: append([]errorSample{}, w.samples...),
		ElapsedMs:    float64(end.Sub(w.measureFrom).Microseconds()) / 1000,
		Latency:      w.hist.data(),
	}
}

func keyOf(prefix string, n, size int) string {
	digits := strconv.Itoa(n)
	if len(prefix)+len(digits) > size {
		fmt.Fprintf(os.Stderr, "key number %d does not fit %d bytes with prefix %s\n", n, size, prefix)
		os.Exit(2)
	}
	return prefix + strings.Repeat("0", size-len(prefix)-len(digits)) + digits
}

func connect(j job, n int) []*clientv3.Client {
	conns := make([]*clientv3.Client, n)
	for i := range conns {
		c, err := clientv3.New(clientv3.Config{Endpoints: j.Endpoints, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			fmt.Fprintf(os.Stderr, "connecting to %v: %v\n", j.Endpoints, err)
			os.Exit(1)
		}
		conns[i] = c
	}
	return conns
}

// Milliseconds since the epoch, with sub-millisecond precision: writers put it in values, watchers
// subtract it from their own clock (the same machine's) to measure delivery.
func nowMs() float64 { return float64(time.Now().UnixNano()) / 1e6 }

func stampedValue(size int) string {
	stamp := strconv.FormatFloat(nowMs(), 'f', 3, 64) + "|"
	if len(stamp) >= size {
		return stamp
	}
	return stamp + strings.Repeat("v", size-len(stamp))
}

func runKV(j job) result {
	conns := connect(j, max(1, j.Conns))
	defer closeAll(conns)
	value := strings.Repeat("v", j.ValueSizeBytes)
	w := newWindow(j)
	var next atomic.Int64
	next.Store(int64(j.KeyFirst))
	var wg sync.WaitGroup
	for c := 0; c < j.Clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			cli := conns[c%len(conns)]
			rnd := rand.New(rand.NewSource(int64(c) + time.Now().UnixNano()))
			for w.more() {
				var n int
				if j.SequentialKeys {
					n = int(next.Add(1) - 1)
				} else {
					n = rnd.Intn(j.KeySpace)
				}
				key := keyOf(j.KeyPrefix, n, j.KeySizeBytes)
				read := j.Operation.Kind == "read" || (j.Operation.Kind == "mixed" && rnd.Intn(100) < j.Operation.ReadPercent)
				ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
				t0 := time.Now()
				var err error
				switch {
				case j.Operation.Kind == "lease":
					var g *clientv3.LeaseGrantResponse
					g, err = cli.Grant(ctx, int64(max(1, j.Operation.TTLMs/1000)))
					if err == nil {
						_, err = cli.KeepAliveOnce(ctx, g.ID)
					}
				case read:
					_, err = cli.Get(ctx, key)
				default:
					_, err = cli.Put(ctx, key, value)
				}
				t1 := time.Now()
				cancel()
				w.done(t0, t1, err)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
				}
			}
		}(c)
	}
	wg.Wait()
	return w.result()
}

// runWatchFanout: `watchers` watchers (one connection each) on the prefix count the events delivered to
// them, with each event's delay from its put being sent; `writers` closed-loop clients put to the prefix.
// The window (warm-up, then the measured time) starts once every watcher is established.
func runWatchFanout(j job) result {
	watchers := connect(j, j.Operation.Watchers)
	writers := connect(j, max(1, j.Operation.Writers))
	defer closeAll(watchers)
	defer closeAll(writers)
	var current atomic.Pointer[window]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ready sync.WaitGroup
	var done sync.WaitGroup
	for _, cli := range watchers {
		ready.Add(1)
		done.Add(1)
		go func(cli *clientv3.Client) {
			defer done.Done()
			var once sync.Once
			defer once.Do(ready.Done)
			ch := cli.Watch(clientv3.WithRequireLeader(ctx), j.KeyPrefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
			for resp := range ch {
				once.Do(ready.Done)
				w := current.Load()
				if w == nil {
					continue
				}
				now := time.Now()
				if now.Before(w.measureFrom) || now.After(w.measureUntil) {
					continue
				}
				nowStamp := nowMs()
				for _, ev := range resp.Events {
					v := string(ev.Kv.Value)
					bar := strings.IndexByte(v, '|')
					if bar < 0 {
						continue
					}
					sent, err := strconv.ParseFloat(v[:bar], 64)
					if err != nil {
						continue
					}
					w.ops.Add(1)
					w.hist.record(time.Duration((nowStamp - sent) * float64(time.Millisecond)))
				}
			}
		}(cli)
	}
	ready.Wait()
	w := newWindow(j)
	current.Store(w)
	var wg sync.WaitGroup
	for i, cli := range writers {
		wg.Add(1)
		go func(i int, cli *clientv3.Client) {
			defer wg.Done()
			rnd := rand.New(rand.NewSource(int64(i) + time.Now().UnixNano()))
			for time.Now().Before(w.measureUntil) {
				key := keyOf(j.KeyPrefix, rnd.Intn(j.KeySpace), j.KeySizeBytes)
				c, cancelPut := context.WithTimeout(context.Background(), requestTimeout)
				_, err := cli.Put(c, key, stampedValue(j.ValueSizeBytes))
				cancelPut()
				if err != nil {
					w.done(time.Now(), time.Now(), err)
				}
			}
		}(i, cli)
	}
	wg.Wait()
	// Deliveries still in flight at the end fall after the window and are not counted.
	time.Sleep(500 * time.Millisecond)
	cancel()
	done.Wait()
	return w.result()
}

func closeAll(cs []*clientv3.Client) {
	for _, c := range cs {
		_ = c.Close()
	}
}

func main() {
	var j job
	if err := json.NewDecoder(os.Stdin).Decode(&j); err != nil {
		fmt.Fprintf(os.Stderr, "reading the job from stdin: %v\n", err)
		os.Exit(2)
	}
	var r result
	switch j.Operation.Kind {
	case "put", "read", "mixed", "lease":
		r = runKV(j)
	case "watch-fanout":
		r = runWatchFanout(j)
	default:
		fmt.Fprintf(os.Stderr, "unknown operation %q\n", j.Operation.Kind)
		os.Exit(2)
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		fmt.Fprintf(os.Stderr, "writing the result: %v\n", err)
		os.Exit(1)
	}
}
