/* "did you mean": optimal-string-alignment (Damerau-Levenshtein with
 * adjacent transpositions) distance, case-insensitive. */
#include <ctype.h>
#include <string.h>

#include "spec/spec.h"

#define DYM_MAX_LEN 64

static int osa_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    static const int big = 1 << 20;
    if (la > DYM_MAX_LEN || lb > DYM_MAX_LEN)
        return big;
    int d[DYM_MAX_LEN + 1][DYM_MAX_LEN + 1];
    for (int i = 0; i <= la; i++)
        d[i][0] = i;
    for (int j = 0; j <= lb; j++)
        d[0][j] = j;
    for (int i = 1; i <= la; i++) {
        for (int j = 1; j <= lb; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            int cost = ca != cb;
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

/* A candidate is close when its distance is at most a third of the longer
 * word (at least 1) and smaller than the shorter word's length, so "x" never
 * suggests "y". The first of equally close candidates wins. */
const char *nn_did_you_mean(const char *word, const char *const *candidates, int n)
{
    if (!word || !candidates)
        return NULL;
    const char *best = NULL;
    int best_d = 0;
    int lw = (int)strlen(word);
    for (int i = 0; i < n; i++) {
        const char *c = candidates[i];
        if (!c)
            continue;
        int lc = (int)strlen(c);
        int longer = lw > lc ? lw : lc, shorter = lw < lc ? lw : lc;
        int limit = longer / 3 > 1 ? longer / 3 : 1;
        int d = osa_distance(word, c);
        if (d > limit || (d > 0 && d >= shorter))
            continue;
        if (!best || d < best_d) {
            best = c;
            best_d = d;
        }
    }
    return best;
}
