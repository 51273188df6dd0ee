// Package suggest finds the closest known word to a misspelt one, for
// "did you mean" hints in error messages.
package suggest

import "strings"

// Closest returns the candidate nearest to word (case-insensitive edit
// distance), or "" when none is close enough to be a plausible typo.
func Closest(word string, candidates []string) string {
	w := strings.ToLower(word)
	best, bestDist := "", -1
	for _, c := range candidates {
		d := distance(w, strings.ToLower(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	// Allow about one edit per three letters, at least two.
	limit := max(2, len(w)/3)
	if bestDist < 0 || bestDist > limit {
		return ""
	}
	return best
}

// Hint formats Closest's answer as a sentence suffix: `; did you mean "x"?`.
func Hint(word string, candidates []string) string {
	if c := Closest(word, candidates); c != "" {
		return `; did you mean "` + c + `"?`
	}
	return ""
}

// distance is the Levenshtein distance between a and b, by bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
