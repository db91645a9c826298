package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strings"
)

// Plot geometry, in SVG user units.
const (
	panelW, panelH = 380.0, 300.0
	marginL        = 75.0
	marginR        = 20.0
	marginT        = 80.0
	marginB        = 50.0
)

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

// plotPoint is one (throughput, latency) pair of one system.
type plotPoint struct{ x, p95, p99 float64 }

// WriteSVG draws end-to-end latency against achieved throughput: a panel
// per partition count, a line per system (solid p99, dashed p95), a log
// latency axis shared by the panels so they can be compared by eye.
func WriteSVG(w io.Writer, rep *Report) error {
	series, parts := plotSeries(rep)
	if len(parts) == 0 {
		_, err := io.WriteString(w, `<svg xmlns="http://www.w3.org/2000/svg" width="300" height="40"><text x="10" y="25">no results</text></svg>`+"\n")
		return err
	}
	xMax, yLo, yHi := plotRanges(series)
	width := marginL + float64(len(parts))*(panelW+marginL) + marginR
	height := marginT + panelH + marginB
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="20" font-size="15">End-to-end latency vs achieved throughput (preset %s; solid p99, dashed p95)</text>`+"\n",
		marginL, html.EscapeString(rep.Preset))
	for i, s := range rep.Systems {
		x := marginL + float64(i)*150
		c := palette[i%len(palette)]
		fmt.Fprintf(&b, `<line x1="%.0f" y1="40" x2="%.0f" y2="40" stroke="%s" stroke-width="2"/><text x="%.0f" y="44">%s</text>`+"\n",
			x, x+24, c, x+30, html.EscapeString(s))
	}
	for pi, p := range parts {
		ox := marginL + float64(pi)*(panelW+marginL)
		drawPanel(&b, ox, p, xMax, yLo, yHi)
		for si, s := range rep.Systems {
			drawSeries(&b, series[p][s], palette[si%len(palette)], ox, xMax, yLo, yHi)
		}
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// plotSeries groups results by partition count and system, sorted by
// throughput; it also returns the partition counts in ascending order.
func plotSeries(rep *Report) (map[int32]map[string][]plotPoint, []int32) {
	series := map[int32]map[string][]plotPoint{}
	for _, p := range rep.Points {
		r := p.Result
		if r == nil || r.E2E.Count == 0 {
			continue
		}
		if series[p.Point.Partitions] == nil {
			series[p.Point.Partitions] = map[string][]plotPoint{}
		}
		m := series[p.Point.Partitions]
		m[p.System] = append(m[p.System], plotPoint{r.InMBps, r.E2E.P95Ms, r.E2E.P99Ms})
	}
	var parts []int32
	for p, m := range series {
		parts = append(parts, p)
		for s := range m {
			sort.Slice(m[s], func(i, j int) bool { return m[s][i].x < m[s][j].x })
		}
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	return series, parts
}

// plotRanges returns the throughput axis maximum and the latency axis's
// decades (log10 of its ends).
func plotRanges(series map[int32]map[string][]plotPoint) (xMax, yLo, yHi float64) {
	yMin, yMax := math.Inf(1), math.Inf(-1)
	for _, m := range series {
		for _, pts := range m {
			for _, p := range pts {
				xMax = max(xMax, p.x)
				yMin = min(yMin, max(p.p95, 0.001))
				yMax = max(yMax, max(p.p99, 0.001))
			}
		}
	}
	xMax = niceCeil(xMax * 1.05)
	yLo, yHi = math.Floor(math.Log10(yMin)), math.Ceil(math.Log10(yMax))
	if yHi <= yLo {
		yHi = yLo + 1
	}
	return xMax, yLo, yHi
}

// niceCeil rounds v up to a round multiple of a power of ten, one that
// divides into five readable ticks.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if v <= m*e {
			return m * e
		}
	}
	return 10 * e
}

func drawPanel(b *strings.Builder, ox float64, partitions int32, xMax, yLo, yHi float64) {
	top, bottom := marginT, marginT+panelH
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="13" text-anchor="middle">%d partitions</text>`+"\n", ox+panelW/2, top-8, partitions)
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#444"/>`+"\n", ox, top, panelW, panelH)
	for d := yLo; d <= yHi; d++ {
		y := bottom - (d-yLo)/(yHi-yLo)*panelH
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`, ox, y, ox+panelW, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", ox-4, y+4, fmtDecade(d))
	}
	for i := 0; i <= 5; i++ {
		v := xMax * float64(i) / 5
		x := ox + v/xMax*panelW
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`, x, top, x, bottom)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%g</text>`+"\n", x, bottom+16, v)
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">achieved MB/s</text>`+"\n", ox+panelW/2, bottom+36)
	fmt.Fprintf(b, `<text transform="translate(%.1f %.1f) rotate(-90)" text-anchor="middle">end-to-end latency</text>`+"\n", ox-60, top+panelH/2)
}

func fmtDecade(d float64) string {
	ms := math.Pow(10, d)
	if ms >= 1000 {
		return fmt.Sprintf("%gs", ms/1000)
	}
	return fmt.Sprintf("%gms", ms)
}

func drawSeries(b *strings.Builder, pts []plotPoint, color string, ox, xMax, yLo, yHi float64) {
	if len(pts) == 0 {
		return
	}
	pos := func(x, ms float64) (float64, float64) {
		l := math.Max(math.Log10(math.Max(ms, 0.001)), yLo)
		return ox + x/xMax*panelW, marginT + panelH - (l-yLo)/(yHi-yLo)*panelH
	}
	for _, dashed := range []bool{true, false} {
		var coords []string
		for _, p := range pts {
			y := p.p99
			if dashed {
				y = p.p95
			}
			px, py := pos(p.x, y)
			coords = append(coords, fmt.Sprintf("%.1f,%.1f", px, py))
			if !dashed {
				fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%.1f MB/s: p99 %s, p95 %s</title></circle>`+"\n",
					px, py, color, p.x, fmtMs(p.p99), fmtMs(p.p95))
			}
		}
		style := `stroke-width="2"`
		if dashed {
			style = `stroke-width="1" stroke-dasharray="4 3"`
		}
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" %s/>`+"\n", strings.Join(coords, " "), color, style)
	}
}
