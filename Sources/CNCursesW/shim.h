#ifndef PREFACTOR_CNCURSESW_SHIM_H
#define PREFACTOR_CNCURSESW_SHIM_H

#define NCURSES_WIDECHAR 1
#include <locale.h>
#include <wchar.h>
#include <stdio.h>
#include <signal.h>
#include <unistd.h>
#include <curses.h>

// Accessors for what Swift 6 cannot use directly: mutable globals and function-like or expression macros.
static inline WINDOW *nc_stdscr(void) { return stdscr; }
static inline int nc_lines(void) { return LINES; }
static inline int nc_cols(void) { return COLS; }
static inline attr_t nc_a_bold(void) { return A_BOLD; }
static inline attr_t nc_a_dim(void) { return A_DIM; }
static inline attr_t nc_a_reverse(void) { return A_REVERSE; }
static inline attr_t nc_a_underline(void) { return A_UNDERLINE; }
static inline attr_t nc_a_normal(void) { return A_NORMAL; }
static inline attr_t nc_color_pair(int n) { return COLOR_PAIR(n); }
static inline int nc_set_escdelay(int ms) { return set_escdelay(ms); }
static inline FILE *nc_fdopen(int fd, const char *mode) { return fdopen(fd, mode); }
// Mouse button masks (expression macros).
static inline mmask_t nc_button1_pressed(void) { return BUTTON1_PRESSED; }
static inline mmask_t nc_button4_pressed(void) { return BUTTON4_PRESSED; }
#if defined(BUTTON5_PRESSED)
static inline mmask_t nc_button5_pressed(void) { return BUTTON5_PRESSED; }
#else
static inline mmask_t nc_button5_pressed(void) { return 0; }
#endif

#endif
