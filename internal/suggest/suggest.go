// Package suggest finds what a user probably meant: the nearest of the
// known words to a mistyped one ("did you mean"), for inventory keys,
// flags, subcommands and node names alike.
package suggest

import "strings"

// Closest returns the candidate nearest to word, or "" when none is near
// enough to be a likely typo: an edit distance (insertions, deletions,
// substitutions, and swaps of neighbours) of at most a third of the
// word's length (at least 1, at most 3), or a case-insensitive prefix of
// at least 3 characters. Ties go to the earlier candidate.
func Closest(word string, candidates []string) string {
	if word == "" {
		return ""
	}
	lw := strings.ToLower(word)
	limit := min(max(1, len([]rune(word))/3), 3)
	best, bestD := "", limit+1
	for _, c := range candidates {
		if c == word {
			return c
		}
		lc := strings.ToLower(c)
		if lc == lw {
			return c
		}
		d := distance(lw, lc)
		if d < bestD {
			best, bestD = c, d
		}
	}
	if best != "" {
		return best
	}
	if len(lw) >= 3 {
		for _, c := range candidates {
			if strings.HasPrefix(strings.ToLower(c), lw) {
				return c
			}
		}
	}
	return ""
}

// DidYouMean is " (did you mean X?)" for the nearest candidate, quoted
// with quote (e.g. "%q" or "--%s"), or "".
func DidYouMean(word string, candidates []string, format string) string {
	c := Closest(word, candidates)
	if c == "" || c == word {
		return ""
	}
	return " (did you mean " + sprintf(format, c) + "?)"
}

func sprintf(format, s string) string {
	switch format {
	case "%q":
		return `"` + s + `"`
	case "":
		return s
	}
	return strings.Replace(format, "%s", s, 1)
}

// distance is the optimal string alignment distance between a and b.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
