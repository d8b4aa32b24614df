/*
 * mask.h - masking of residents' personal data (个人信息保护法), the way
 * Chinese service platforms show a resident to staff. Shared by the CLI
 * (`minqing show`, `list`) and libminqing (adapters' logs), so that the two
 * can never mask differently.
 */
#ifndef MQ_MASK_H
#define MQ_MASK_H

#include <stddef.h>

/* Masks write into out (size bytes, cut at a character boundary). */
/* 13812345678 -> 138****5678: the first 3 and last 4 digits stay when there
 * are at least 11 (a mobile or ID number); else only the last 2 (86001234 ->
 * ******34). Other characters stay. */
void mask_phone(const char *phone, char *out, size_t size);
/* 张三 -> 张*: the first character stays, every other one but spaces is '*'. */
void mask_name(const char *name, char *out, size_t size);
/* zhang@example.com -> z***@example.com */
void mask_email(const char *email, char *out, size_t size);
/* The first third of the characters (at most 8) and "***". */
void mask_address(const char *address, char *out, size_t size);
/* Free text: every number of 7 or more digits (a phone or ID number inside a
 * description or a note) masked as mask_phone does, and every e-mail address
 * as mask_email does. Digits may be full-width, and in groups of 3 or more
 * (or one by one, or in pairs) joined by spaces (a newline, '+' and %20 of
 * a URL among them), zero-width characters, terminal escapes and one mark
 * (- . / _ , : ~ | *, a dash, their full-width forms, 、 。 ·), each of
 * them also written as escapes (%2D, %EF%BC%8D, GBK's %A3%AD, \u3000,
 * \xe3\x80\x80, \t; copied as they are between the masked digits):
 * 138-1234-5678, 138+1234+5678 and 1 3 8 1 2 3 4 5 6 7 8 are numbers,
 * 2024-05-01 is none. A coordinate (1 to 180, 4 or more decimals:
 * 36.061089) keeps its whole part (36.******). Escaped non-ASCII text
 * (\u738b, \xe7\x8e\x8b, %E7%8E%8B: a name, an address) becomes a '*' a
 * character. A byte that starts no UTF-8 character becomes '?'; the rest is
 * unchanged. Not recognised: names and addresses in plain text, numbers in
 * Chinese numerals or circled digits, e-mail addresses written with ＠,
 * %40 or (at). */
void mask_text(const char *text, char *out, size_t size);
/* Of a text cut from a longer one (a command's line over the adapter's
 * buffer), the length mask_text may be given: up to the last place no
 * number, e-mail address or escape can run across (after a character that
 * can be in none, or after a space that follows no digit). What is after it
 * may be a piece of one the cut left, and would be shown unmasked. */
size_t mask_cut_point(const char *text);
/* A resident's own values, as the case gives them; any may be NULL. */
typedef struct {
    const char *first, *last, *address, *email, *phone;
} mask_person_t;

/* In place: every occurrence in text of the person's name (given or family
 * name of 2 or more characters, or both, together or a space apart, in
 * either order), address or e-mail becomes a '*' for each of its
 * characters (王小明 -> ***); the longest first. ASCII letters match in
 * either case (WANG XIAOMING), a value that begins or ends with a letter
 * only as a word of its own (the surname Li, not the li of "client"), and each character may be written as it is
 * or escaped: \uXXXX (JSON), \xNN (Python bytes), %XX or '+' for a space
 * (a URL). The phone is looked for by its digits (without +86, and 7 or
 * more), in order, with up to 8 characters or escapes but letters between
 * two of them (138 0013 8000, 138%200013%208000, a GBK dash), and masked as
 * mask_text masks a number (138 **** 8000). Text never grows. Free text
 * that may quote the case gets this, then mask_text. */
void mask_known(char *text, const mask_person_t *person);
/* mask_known for a text cut from a longer one: a value the text's end cuts
 * short (甘肃省兰州 of the address, xiaoming.wang@16 of the e-mail) is
 * masked too, to the end. */
void mask_known_cut(char *text, const mask_person_t *person);

#endif
