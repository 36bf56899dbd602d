package admin

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The console: GET / renders the whole page on the server (it reads fine
// without JavaScript); console.js then polls /api/state every second and
// /api/grid when a revision changes, and updates the page in place. The
// assets are embedded: nothing is loaded from elsewhere.

//go:embed console/index.html console/console.css console/console.js
var consoleFS embed.FS

var consoleTemplate = template.Must(template.New("index.html").Funcs(template.FuncMap{
	"clock":   clock,
	"num":     func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) },
	"latency": latency,
	"slot":    slotClass,
}).ParseFS(consoleFS, "console/index.html"))

// pageData is what index.html renders.
type pageData struct {
	State   State
	Buckets []pageBucket
}

// pageBucket is a BucketState with its grid.
type pageBucket struct {
	BucketState
	Columns int
	Cells   template.HTML
	Legend  []legendItem
}

type legendItem struct {
	Address string
	Colour  int    // palette slot
	Class   string // "3": the swatch's class suffix
	Active  int    // active vBuckets
}

// pagePool recycles the page buffers (about 40 KiB for 1024 vBuckets).
var pagePool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// console serves GET /.
func (s *Server) console(w http.ResponseWriter, r *http.Request) {
	buf := pagePool.Get().(*bytes.Buffer)
	defer pagePool.Put(buf)
	buf.Reset()
	if err := consoleTemplate.Execute(buf, s.page()); err != nil {
		s.log.Warn("console render", "err", err)
		writeText(w, http.StatusInternalServerError, "console: "+err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; object-src 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(buf.Bytes())
}

// page assembles the data of one render.
func (s *Server) page() pageData {
	st := s.buildState()
	p := pageData{State: st, Buckets: make([]pageBucket, len(st.Buckets))}
	for i, bs := range st.Buckets {
		pb := pageBucket{BucketState: bs, Columns: 1}
		if m := s.states[i].b.Map.Current(); m != nil {
			e := s.states[i].entry(m)
			pb.Columns, pb.Cells = gridColumns(m.NumVBuckets()), e.cells
			for j, n := range m.Nodes() {
				pb.Legend = append(pb.Legend, legendItem{
					Address: n.Addr, Colour: e.colours[j], Class: slotClass(e.colours[j]), Active: e.active[j],
				})
			}
		}
		p.Buckets[i] = pb
	}
	return p
}

// asset serves the embedded stylesheet and script.
func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	var ctype string
	switch name {
	case "console.css":
		ctype = "text/css; charset=utf-8"
	case "console.js":
		ctype = "text/javascript; charset=utf-8"
	default:
		http.NotFound(w, r)
		return
	}
	body, err := consoleFS.ReadFile("console/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "no-cache") // revalidate: a new binary may bring a new script
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
}

// clock formats a time (time.Time or *time.Time) as "15:04:05 UTC".
func clock(v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return "—"
		}
		t = *x
	}
	return t.UTC().Format("15:04:05") + " UTC"
}

// latency formats seconds for the node table: "—" without requests.
func latency(v *float64) string {
	if v == nil {
		return "—"
	}
	d := time.Duration(*v * float64(time.Second))
	switch {
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 0, 64) + " µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s"
}

// slotClass is the class suffix of a palette slot: "3", or "x" for none.
func slotClass(slot int) string {
	if slot < 0 {
		return "x"
	}
	return strconv.Itoa(slot % paletteSize)
}
