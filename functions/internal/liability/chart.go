package liability

import (
	"fmt"
	"image/color"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Chart writes the report as a chart to path, PNG or SVG by its extension: points earned,
// spent and expired per month as grouped bars, the outstanding and expiring totals in the
// title.
func Chart(r Report, path string) error {
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	if format != "png" && format != "svg" {
		return fmt.Errorf("%s: the chart is a .png or an .svg", path)
	}
	p := plot.New()
	s := r.Summary
	p.Title.Text = fmt.Sprintf("Points per month — outstanding %d; expiring in 30/60/90 days: %d / %d / %d",
		s.Outstanding, s.Expiring30, s.Expiring60, s.Expiring90)
	p.Y.Label.Text = "points"
	p.Legend.Top = true
	labels := make([]string, len(r.Months))
	series := []struct {
		name  string
		value func(Month) int64
		color color.RGBA
	}{
		{"earned", func(m Month) int64 { return m.Earned }, color.RGBA{R: 0x2e, G: 0x7d, B: 0x32, A: 0xff}},
		{"spent", func(m Month) int64 { return m.Spent }, color.RGBA{R: 0x15, G: 0x65, B: 0xc0, A: 0xff}},
		{"expired", func(m Month) int64 { return m.Expired }, color.RGBA{R: 0xc6, G: 0x28, B: 0x28, A: 0xff}},
	}
	width := vg.Points(9)
	for i, sr := range series {
		values := make(plotter.Values, len(r.Months))
		for j, m := range r.Months {
			values[j] = float64(sr.value(m))
			labels[j] = m.Month
		}
		bars, err := plotter.NewBarChart(values, width)
		if err != nil {
			return err
		}
		bars.Color = sr.color
		bars.LineStyle.Width = 0
		bars.Offset = vg.Length(i-1) * width
		p.Add(bars)
		p.Legend.Add(sr.name, bars)
	}
	p.NominalX(labels...)
	p.Add(plotter.NewGrid())
	return p.Save(28*vg.Centimeter, 14*vg.Centimeter, path)
}
