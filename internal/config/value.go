package config

import (
	"math"
	"strconv"
	"strings"
)

// canonical returns v in the form Kafka prints a parsed value of type t
// (ConfigDef.convertToString): trimmed, booleans lower-case, numbers without
// sign or leading zeros, doubles as Java's Double.toString, lists joined by
// "," without spaces. A value that does not parse is returned trimmed.
func canonical(t Type, v string) string {
	v = strings.TrimSpace(v)
	switch t {
	case Boolean:
		return strings.ToLower(v)
	case Int, Short, Long:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return strconv.FormatInt(n, 10)
		}
	case Double:
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return javaDouble(f)
		}
	case List:
		return strings.Join(splitList(v), ",")
	}
	return v
}

// javaDouble formats f as java.lang.Double.toString does for the values
// configs hold: "0.5", "1.0", "1.0E-4", "1.5E7".
func javaDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	if a := math.Abs(f); a == 0 || (a >= 1e-3 && a < 1e7) {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'E', -1, 64) // "1E-04", "1.5E+07"
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}
