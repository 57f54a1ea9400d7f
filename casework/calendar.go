package casework

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

//go:embed holidays.yaml
var defaultHolidays []byte

// DefaultCalendar is the holiday calendar shipped with sealvault (holidays.yaml).
func DefaultCalendar() *Calendar {
	c, err := ParseCalendar(defaultHolidays)
	if err != nil {
		panic("casework: the embedded holidays.yaml is invalid: " + err.Error())
	}
	return c
}

// Calendar tells working days from rest days: Monday to Friday work unless a public holiday,
// and weekend days made working days by an adjustment (调休) work. Years it has no data for
// are counted on weekends and the fixed-date statutory holidays alone, provisionally.
type Calendar struct {
	holidays map[string]bool
	workdays map[string]bool
	years    map[int]string // year → the notice it follows
}

// ParseCalendar reads a calendar in the format of holidays.yaml. Dates are YYYY-MM-DD or
// ranges YYYY-MM-DD..YYYY-MM-DD; every date must lie in the year it is listed under, and no
// date may be both a holiday and a working day.
func ParseCalendar(data []byte) (*Calendar, error) {
	var f struct {
		Years map[int]struct {
			Source   string   `yaml:"source"`
			Holidays []string `yaml:"holidays"`
			Workdays []string `yaml:"workdays"`
		} `yaml:"years"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("holiday calendar: %w", err)
	}
	if len(f.Years) == 0 {
		return nil, fmt.Errorf("holiday calendar: no years")
	}
	c := &Calendar{holidays: map[string]bool{}, workdays: map[string]bool{}, years: map[int]string{}}
	for year, y := range f.Years {
		if year < 2000 || year > 2100 {
			return nil, fmt.Errorf("holiday calendar: year %d is out of range", year)
		}
		c.years[year] = y.Source
		for _, list := range []struct {
			name  string
			items []string
			into  map[string]bool
		}{{"holidays", y.Holidays, c.holidays}, {"workdays", y.Workdays, c.workdays}} {
			for _, item := range list.items {
				days, err := expand(item)
				if err != nil {
					return nil, fmt.Errorf("holiday calendar: %d %s: %w", year, list.name, err)
				}
				for _, d := range days {
					if d.Year() != year {
						return nil, fmt.Errorf("holiday calendar: %d %s: %s is not in %d", year, list.name, d.Format(time.DateOnly), year)
					}
					list.into[d.Format(time.DateOnly)] = true
				}
			}
		}
	}
	for d := range c.holidays {
		if c.workdays[d] {
			return nil, fmt.Errorf("holiday calendar: %s is listed both as a holiday and as a working day", d)
		}
	}
	return c, nil
}

func expand(item string) ([]time.Time, error) {
	from, to, isRange := strings.Cut(strings.TrimSpace(item), "..")
	a, err := time.Parse(time.DateOnly, strings.TrimSpace(from))
	if err != nil {
		return nil, fmt.Errorf("%q is not a date (YYYY-MM-DD) or a range (YYYY-MM-DD..YYYY-MM-DD)", item)
	}
	if !isRange {
		return []time.Time{a}, nil
	}
	b, err := time.Parse(time.DateOnly, strings.TrimSpace(to))
	if err != nil || b.Before(a) || b.Sub(a) > 31*24*time.Hour {
		return nil, fmt.Errorf("%q is not a range of at most a month (YYYY-MM-DD..YYYY-MM-DD)", item)
	}
	var out []time.Time
	for d := a; !d.After(b); d = d.AddDate(0, 0, 1) {
		out = append(out, d)
	}
	return out, nil
}

// Years lists the years the calendar has data for.
func (c *Calendar) Years() []int {
	ys := make([]int, 0, len(c.years))
	for y := range c.years {
		ys = append(ys, y)
	}
	sort.Ints(ys)
	return ys
}

// Working reports whether day is a working day, and whether the answer is provisional (the
// calendar has no data for its year).
func (c *Calendar) Working(day time.Time) (working, provisional bool) {
	key := day.Format(time.DateOnly)
	if _, known := c.years[day.Year()]; !known {
		m, d := day.Month(), day.Day()
		statutory := (m == time.January && d == 1) || (m == time.May && d <= 2) || (m == time.October && d <= 3)
		return !statutory && !weekend(day), true
	}
	switch {
	case c.workdays[key]:
		return true, false
	case c.holidays[key]:
		return false, false
	}
	return !weekend(day), false
}

func weekend(d time.Time) bool { return d.Weekday() == time.Saturday || d.Weekday() == time.Sunday }

// AddWorkingDays returns the n-th working day after day (day itself for n = 0), as a date,
// and whether any day counted was provisional.
func (c *Calendar) AddWorkingDays(day time.Time, n int) (time.Time, bool) {
	d := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, day.Location())
	_, provisional := c.Working(d)
	for n > 0 {
		d = d.AddDate(0, 0, 1)
		w, p := c.Working(d)
		provisional = provisional || p
		if w {
			n--
		}
	}
	return d, provisional
}

// WorkingDaysBetween counts the working days after from up to and including to (negative
// when to is before from): the days left until a due date.
func (c *Calendar) WorkingDaysBetween(from, to time.Time) int {
	a := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	b := time.Date(to.Year(), to.Month(), to.Day(), 0, 0, 0, 0, time.UTC)
	sign := 1
	if b.Before(a) {
		a, b, sign = b, a, -1
	}
	n := 0
	for d := a.AddDate(0, 0, 1); !d.After(b); d = d.AddDate(0, 0, 1) {
		if w, _ := c.Working(d); w {
			n++
		}
	}
	return sign * n
}
