package report

import (
	"cmp"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Chart geometry (pixels).
const (
	svgWidth    = 1000
	panelWidth  = 470
	panelHeight = 330
	marginLeft  = 72
	marginRight = 12
	marginTop   = 44
	marginBot   = 48
	legendTop   = marginTop + panelHeight + 16
	legendRow   = 20
)

var targetColors = map[string]string{
	TargetDirect:    "#1f77b4",
	TargetVbproxy:   "#d62728",
	TargetTwemproxy: "#2ca02c",
	TargetBaseline:  "#ff7f0e",
	TargetTLS:       "#b8860b",
}

// protocolColors colour a target driven in a protocol other than its
// usual one (key target/protocol), so that its line stands apart.
var protocolColors = map[string]string{
	TargetVbproxy + "/ascii": "#8c564b",
}

var otherColors = []string{"#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

func dashFor(pipeline int) string {
	switch {
	case pipeline <= 1:
		return ""
	case pipeline <= 16:
		return "7,4"
	default:
		return "2,3"
	}
}

// series is one line: a target, protocol and pipeline depth over conns.
type series struct {
	label    string
	color    string
	dash     string
	pipeline int
	points   []*VbbenchStat // by conns
}

func buildSeries(s *Summary) []*series {
	byKey := map[string]*series{}
	var out []*series
	others := 0
	for _, st := range s.Vbbench { // sorted by pipeline, conns, target
		key := fmt.Sprintf("%s/%s/%d", st.Target, st.Protocol, st.Pipeline)
		se := byKey[key]
		if se == nil {
			color, ok := protocolColors[st.Target+"/"+st.Protocol]
			if !ok {
				color, ok = targetColors[st.Target]
			}
			if !ok {
				color = otherColors[others%len(otherColors)]
				others++
			}
			se = &series{label: fmt.Sprintf("%s (%s), pipeline %d", st.Target, st.Protocol, st.Pipeline),
				color: color, dash: dashFor(st.Pipeline), pipeline: st.Pipeline}
			byKey[key] = se
			out = append(out, se)
		}
		se.points = append(se.points, st)
	}
	for _, se := range out {
		slices.SortFunc(se.points, func(a, b *VbbenchStat) int { return cmp.Compare(a.Conns, b.Conns) })
	}
	slices.SortStableFunc(out, func(a, b *series) int {
		return cmp.Or(compareTargets(a.points[0].Target, b.points[0].Target), cmp.Compare(a.pipeline, b.pipeline))
	})
	return out
}

// SVG draws throughput (left) and p99 latency (right, log scale) against
// connections, one line per target, protocol and pipeline depth.
func SVG(w io.Writer, s *Summary) error {
	ser := buildSeries(s)
	var conns []int
	for _, p := range s.Points {
		if !slices.Contains(conns, p.Conns) {
			conns = append(conns, p.Conns)
		}
	}
	slices.Sort(conns)
	legendRows := (len(ser) + 2) / 3
	height := legendTop + legendRows*legendRow + 12

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgWidth, height)
	if len(ser) == 0 || len(conns) == 0 {
		b.WriteString(`<text x="20" y="40">no vbbench results</text>` + "\n</svg>\n")
		_, err := io.WriteString(w, b.String())
		return err
	}

	xOf := func(panelX float64, c int) float64 {
		plotW := float64(panelWidth - marginLeft - marginRight)
		i := slices.Index(conns, c)
		if len(conns) == 1 {
			return panelX + marginLeft + plotW/2
		}
		return panelX + marginLeft + 20 + float64(i)*(plotW-40)/float64(len(conns)-1)
	}

	// Both panels use log scales: the targets span two orders of magnitude
	// and ratios between lines are what matters.
	drawLogPanel(&b, 0, "Throughput (ops/s, log scale) vs connections", ser, conns, xOf,
		func(p *VbbenchStat) float64 { return p.OpsPerSec })
	drawLogPanel(&b, float64(panelWidth+30), "p99 latency (µs, log scale) vs connections", ser, conns, xOf,
		func(p *VbbenchStat) float64 { return p.Latency.P99 })

	// Legend.
	for i, se := range ser {
		x := 20 + float64(i%3)*320
		y := float64(legendTop + (i/3)*legendRow)
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="2.5"%s/>`+"\n",
			x, y, x+36, y, se.color, dashAttr(se.dash))
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%s</text>`+"\n", x+44, y+4, esc(se.label))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// drawLogPanel draws one panel at x with a log-scale y axis for value.
func drawLogPanel(b *strings.Builder, x float64, title string, ser []*series, conns []int,
	xOf func(float64, int) float64, value func(*VbbenchStat) float64) {
	plotTop, plotBot := float64(marginTop), float64(marginTop+panelHeight-marginBot)
	lo, hi := math.Inf(1), 0.0
	for _, se := range ser {
		for _, p := range se.points {
			if v := value(p); v > 0 {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	if hi == 0 {
		lo, hi = 1, 10
	}
	dlo, dhi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if dhi <= dlo {
		dhi = dlo + 1
	}
	y := func(v float64) float64 { return plotBot - (math.Log10(v)-dlo)/(dhi-dlo)*(plotBot-plotTop) }
	panel(b, x, title, conns, xOf)
	for _, t := range logTicks(dlo, dhi) {
		yy := y(t)
		stroke := "#eee"
		if isDecade(t) {
			stroke = "#ccc"
		}
		fmt.Fprintf(b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="%s"/>`+"\n", x+marginLeft, yy, x+panelWidth-marginRight, yy, stroke)
		fmt.Fprintf(b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n", x+marginLeft-6, yy+4, esc(short(t)))
	}
	for _, se := range ser {
		polyline(b, se, func(p *VbbenchStat) (float64, float64, bool) {
			v := value(p)
			if v <= 0 {
				return 0, 0, false
			}
			return xOf(x, p.Conns), y(v), true
		})
	}
}

// logTicks returns 1, 2 and 5 times each power of ten from 10^dlo to
// 10^dhi; only decades when the range spans more than three of them.
func logTicks(dlo, dhi float64) []float64 {
	var out []float64
	for d := dlo; d <= dhi; d++ {
		base := math.Pow(10, d)
		out = append(out, base)
		if d < dhi && dhi-dlo <= 3 {
			out = append(out, 2*base, 5*base)
		}
	}
	return out
}

func isDecade(v float64) bool {
	l := math.Log10(v)
	return math.Abs(l-math.Round(l)) < 1e-9
}

// panel draws a panel's frame, title and x axis.
func panel(b *strings.Builder, x float64, title string, conns []int, xOf func(float64, int) float64) {
	top, bot := float64(marginTop), float64(marginTop+panelHeight-marginBot)
	fmt.Fprintf(b, `<text x="%.0f" y="24" font-size="14" font-weight="bold">%s</text>`+"\n", x+marginLeft, esc(title))
	fmt.Fprintf(b, `<rect x="%.0f" y="%.0f" width="%d" height="%.0f" fill="none" stroke="#888"/>`+"\n",
		x+marginLeft, top, panelWidth-marginLeft-marginRight, bot-top)
	for _, c := range conns {
		cx := xOf(x, c)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#888"/>`+"\n", cx, bot, cx, bot+5)
		fmt.Fprintf(b, `<text x="%.1f" y="%.0f" text-anchor="middle">%d</text>`+"\n", cx, bot+18, c)
	}
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="middle">client connections</text>`+"\n",
		x+float64(marginLeft+panelWidth-marginRight)/2, bot+36)
}

func polyline(b *strings.Builder, se *series, at func(*VbbenchStat) (float64, float64, bool)) {
	var pts []string
	for _, p := range se.points {
		x, y, ok := at(p)
		if !ok {
			continue
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", x, y, se.color)
	}
	if len(pts) > 1 {
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n",
			strings.Join(pts, " "), se.color, dashAttr(se.dash))
	}
}

func dashAttr(d string) string {
	if d == "" {
		return ""
	}
	return fmt.Sprintf(` stroke-dasharray="%s"`, d)
}

// short formats an axis value: 1.5k, 120k, 2M.
func short(v float64) string {
	switch {
	case v >= 1e6:
		return trimZero(fmt.Sprintf("%.1f", v/1e6)) + "M"
	case v >= 1e3:
		return trimZero(fmt.Sprintf("%.1f", v/1e3)) + "k"
	case v >= 1:
		return trimZero(fmt.Sprintf("%.1f", v))
	default:
		return trimZero(fmt.Sprintf("%.3f", v))
	}
}

func trimZero(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	return s
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
