/*
 * The first worksheet of an XLSX workbook, row by row, through the same
 * record callback as CSV.  The archive is read with libzip and each XML
 * part with libxml2's streaming reader, so a sheet is never held whole.
 * Shared strings must be (cells refer to them by index); they are bounded
 * by XLSX_STRINGS_BYTES.  Every part is bounded in inflated size against
 * zip bombs, and no entity or network access is allowed to the parser.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>
#include <libxml/xmlreader.h>

#include "vbp.h"


#define XLSX_PART_MAX       (256L * 1024 * 1024)
#define XLSX_STRINGS_BYTES  (64L * 1024 * 1024)
#define XLSX_STRINGS_MAX    1000000
#define XLSX_ROWS_MAX       1048576     /* Excel's own limit */
#define XLSX_BAD_REF        (-2)


typedef struct {
    zip_file_t   *file;
    long          read;
} xlsx_part_t;

typedef struct {
    char        **items;
    size_t        n;
    size_t        bytes;
} xlsx_strings_t;


static xmlTextReaderPtr xlsx_open_part(zip_t *zip, const char *name,
    xlsx_part_t *part);
static int xlsx_read_cb(void *ctx, char *buf, int len);
static int xlsx_close_cb(void *ctx);
static const char *xlsx_load_strings(zip_t *zip, xlsx_strings_t *ss);
static void xlsx_first_sheet(zip_t *zip, char *path, size_t len);
static const char *xlsx_rows(zip_t *zip, const char *sheet,
    xlsx_strings_t *ss, vbp_record_pt record, void *data);
static size_t xlsx_number(const char *s, size_t max);
static int xlsx_column(const char *ref, long row);
static int xlsx_is(xmlTextReaderPtr r, int type, const char *name);


const char *
vbp_xlsx_read(const char *path, vbp_record_pt record, void *data)
{
    int              err;
    size_t           i;
    zip_t           *zip;
    char             sheet[256];
    const char      *why;
    xlsx_strings_t   ss;

    zip = zip_open(path, ZIP_RDONLY, &err);
    if (zip == NULL) {
        return "文件不是有效的 XLSX 工作簿";
    }

    memset(&ss, 0, sizeof(ss));

    why = xlsx_load_strings(zip, &ss);

    if (why == NULL) {
        xlsx_first_sheet(zip, sheet, sizeof(sheet));
        why = xlsx_rows(zip, sheet, &ss, record, data);
    }

    for (i = 0; i < ss.n; i++) {
        free(ss.items[i]);
    }

    free(ss.items);
    zip_discard(zip);

    return why;
}


static xmlTextReaderPtr
xlsx_open_part(zip_t *zip, const char *name, xlsx_part_t *part)
{
    xmlTextReaderPtr  r;

    part->read = 0;
    part->file = zip_fopen(zip, name, 0);

    if (part->file == NULL) {
        return NULL;
    }

    r = xmlReaderForIO(xlsx_read_cb, xlsx_close_cb, part, name, "UTF-8",
                       XML_PARSE_NONET | XML_PARSE_NOERROR
                       | XML_PARSE_NOWARNING | XML_PARSE_COMPACT);
    if (r == NULL) {
        zip_fclose(part->file);
        part->file = NULL;
    }

    return r;
}


static int
xlsx_read_cb(void *ctx, char *buf, int len)
{
    zip_int64_t   n;
    xlsx_part_t  *part = ctx;

    if (part->read > XLSX_PART_MAX) {
        return -1;
    }

    n = zip_fread(part->file, buf, (zip_uint64_t) len);
    if (n < 0) {
        return -1;
    }

    part->read += (long) n;

    return (int) n;
}


static int
xlsx_close_cb(void *ctx)
{
    xlsx_part_t  *part = ctx;

    if (part->file) {
        zip_fclose(part->file);
        part->file = NULL;
    }

    return 0;
}


static int
xlsx_is(xmlTextReaderPtr r, int type, const char *name)
{
    const xmlChar  *local;

    if (xmlTextReaderNodeType(r) != type) {
        return 0;
    }

    local = xmlTextReaderConstLocalName(r);

    return local && strcmp((const char *) local, name) == 0;
}


/* xl/sharedStrings.xml: <si> holds <t> runs (directly or in <r>) */
static const char *
xlsx_load_strings(zip_t *zip, xlsx_strings_t *ss)
{
    int               rc, in_si, in_t;
    char             *text, *grown, **items;
    size_t            len, add, cap;
    xlsx_part_t       part;
    const xmlChar    *value;
    xmlTextReaderPtr  r;

    r = xlsx_open_part(zip, "xl/sharedStrings.xml", &part);
    if (r == NULL) {
        return NULL;                /* a workbook without shared strings */
    }

    text = NULL;
    len = 0;
    cap = 0;
    in_si = 0;
    in_t = 0;

    while ((rc = xmlTextReaderRead(r)) == 1) {

        if (xlsx_is(r, XML_READER_TYPE_ELEMENT, "si")) {
            in_si = 1;
            len = 0;
            free(text);
            text = calloc(1, 1);
            if (text == NULL) {
                rc = -1;
                break;
            }

        } else if (in_si && xlsx_is(r, XML_READER_TYPE_ELEMENT, "t")) {
            in_t = !xmlTextReaderIsEmptyElement(r);

        } else if (xlsx_is(r, XML_READER_TYPE_END_ELEMENT, "t")) {
            in_t = 0;

        } else if (in_t
                   && (xmlTextReaderNodeType(r) == XML_READER_TYPE_TEXT
                       || xmlTextReaderNodeType(r)
                          == XML_READER_TYPE_SIGNIFICANT_WHITESPACE))
        {
            value = xmlTextReaderConstValue(r);
            add = value ? strlen((const char *) value) : 0;

            if (len + add > VBP_CSV_FIELD_MAX * 4) {
                add = 0;            /* longer than any field we take */
            }

            grown = realloc(text, len + add + 1);
            if (grown == NULL) {
                rc = -1;
                break;
            }

            text = grown;
            memcpy(text + len, value, add);
            len += add;
            text[len] = '\0';

        } else if (in_si && xlsx_is(r, XML_READER_TYPE_END_ELEMENT, "si")) {
            in_si = 0;

            if (ss->n >= XLSX_STRINGS_MAX
                || ss->bytes + len > XLSX_STRINGS_BYTES)
            {
                rc = -2;
                break;
            }

            if (ss->n == cap) {
                cap = cap ? cap * 2 : 1024;
                items = realloc(ss->items, cap * sizeof(char *));
                if (items == NULL) {
                    rc = -1;
                    break;
                }
                ss->items = items;
            }

            ss->items[ss->n++] = text;
            ss->bytes += len + 1;
            text = NULL;
        }
    }

    free(text);
    xmlFreeTextReader(r);

    if (rc == -2) {
        return "工作簿中的文字过多，请拆分后导入";
    }

    return rc == 0 ? NULL : "XLSX 文件已损坏（共享字符串无法读取）";
}


/* the part of the first <sheet> of the workbook, or sheet1.xml */
static void
xlsx_first_sheet(zip_t *zip, char *path, size_t len)
{
    char              rid[64];
    xmlChar          *attr;
    xlsx_part_t       part;
    xmlTextReaderPtr  r;

    snprintf(path, len, "xl/worksheets/sheet1.xml");
    rid[0] = '\0';

    r = xlsx_open_part(zip, "xl/workbook.xml", &part);
    if (r == NULL) {
        return;
    }

    while (xmlTextReaderRead(r) == 1) {
        if (xlsx_is(r, XML_READER_TYPE_ELEMENT, "sheet")) {
            attr = xmlTextReaderGetAttributeNs(r, (const xmlChar *) "id",
                (const xmlChar *) "http://schemas.openxmlformats.org/"
                                  "officeDocument/2006/relationships");
            if (attr) {
                snprintf(rid, sizeof(rid), "%s", (char *) attr);
                xmlFree(attr);
            }
            break;
        }
    }

    xmlFreeTextReader(r);

    if (rid[0] == '\0') {
        return;
    }

    r = xlsx_open_part(zip, "xl/_rels/workbook.xml.rels", &part);
    if (r == NULL) {
        return;
    }

    while (xmlTextReaderRead(r) == 1) {
        if (!xlsx_is(r, XML_READER_TYPE_ELEMENT, "Relationship")) {
            continue;
        }

        attr = xmlTextReaderGetAttribute(r, (const xmlChar *) "Id");
        if (attr == NULL || strcmp((char *) attr, rid) != 0) {
            xmlFree(attr);
            continue;
        }

        xmlFree(attr);

        attr = xmlTextReaderGetAttribute(r, (const xmlChar *) "Target");
        if (attr) {
            /* relative to xl/, or absolute from the archive's root */
            if (attr[0] == '/') {
                snprintf(path, len, "%s", (char *) attr + 1);
            } else {
                snprintf(path, len, "xl/%s", (char *) attr);
            }
            xmlFree(attr);
        }

        break;
    }

    xmlFreeTextReader(r);
}


/* a whole number of at most max, or 0 when the text is not one */
static size_t
xlsx_number(const char *s, size_t max)
{
    size_t  n;

    if (*s == '\0' || strlen(s) > 9 || strspn(s, "0123456789") != strlen(s))
    {
        return 0;
    }

    n = (size_t) strtoul(s, NULL, 10);

    return n <= max ? n : 0;
}


/* "C12" in row 12 -> 2; XLSX_BAD_REF when not a reference into that row */
static int
xlsx_column(const char *ref, long row)
{
    int  col;

    for (col = 0; *ref >= 'A' && *ref <= 'Z'; ref++) {
        col = col * 26 + (*ref - 'A' + 1);
        if (col > 16384) {
            return XLSX_BAD_REF;
        }
    }

    if (col == 0 || xlsx_number(ref, XLSX_ROWS_MAX) != (size_t) row) {
        return XLSX_BAD_REF;
    }

    return col - 1;
}


static const char *
xlsx_rows(zip_t *zip, const char *sheet, xlsx_strings_t *ss,
    vbp_record_pt record, void *data)
{
    int               rc, col, next_col, in_value, type_shared, stop;
    long              line;
    char             *fields[VBP_CSV_FIELDS_MAX];
    char              cells[VBP_CSV_FIELDS_MAX][VBP_CSV_FIELD_MAX + 1];
    size_t            n, idx;
    xmlChar          *attr;
    xlsx_part_t       part;
    vbp_record_t      rec;
    const xmlChar    *value;
    xmlTextReaderPtr  r;

    r = xlsx_open_part(zip, sheet, &part);
    if (r == NULL) {
        return "XLSX 文件中没有工作表";
    }

    rc = 0;
    line = 0;
    col = -1;
    next_col = 0;
    in_value = 0;
    type_shared = 0;
    stop = 0;
    rec.nfields = 0;
    rec.error = NULL;
    rec.error_col = -1;

    while (!stop && (rc = xmlTextReaderRead(r)) == 1) {

        if (xlsx_is(r, XML_READER_TYPE_ELEMENT, "row")) {
            rec.nfields = 0;
            rec.error = NULL;
            rec.error_col = -1;
            next_col = 0;

            /* rows come in order, numbered as Excel numbers them: a
             * number out of that is refused, never guessed at */
            attr = xmlTextReaderGetAttribute(r, (const xmlChar *) "r");
            n = attr ? xlsx_number((char *) attr, XLSX_ROWS_MAX)
                     : (size_t) line + 1;
            xmlFree(attr);

            if (n == 0 || n <= (size_t) line || n > XLSX_ROWS_MAX) {
                rec.error = "行号无效（应为 1 到 1048576 的整数，且逐行递增）";
                n = (size_t) line + 1;
            }

            line = (long) n;

            if (xmlTextReaderIsEmptyElement(r)) {
                continue;
            }

        } else if (xlsx_is(r, XML_READER_TYPE_ELEMENT, "c")) {
            attr = xmlTextReaderGetAttribute(r, (const xmlChar *) "r");
            col = attr ? xlsx_column((char *) attr, line) : next_col;
            xmlFree(attr);

            if (col == XLSX_BAD_REF) {
                if (rec.error == NULL) {
                    rec.error = "单元格位置无效（不在本行或不是 A1 形式）";
                }

                col = -1;
                continue;
            }

            attr = xmlTextReaderGetAttribute(r, (const xmlChar *) "t");
            type_shared = attr && strcmp((char *) attr, "s") == 0;
            xmlFree(attr);

            next_col = col + 1;

            if (col < 0 || col >= VBP_CSV_FIELDS_MAX) {
                if (col >= VBP_CSV_FIELDS_MAX && rec.error == NULL) {
                    rec.error = "列数过多";
                }
                col = -1;
                continue;
            }

            /* cells left out between the last one and this one are empty */
            while (rec.nfields <= col) {
                cells[rec.nfields][0] = '\0';
                fields[rec.nfields] = cells[rec.nfields];
                rec.nfields++;
            }

        } else if (col >= 0
                   && (xlsx_is(r, XML_READER_TYPE_ELEMENT, "v")
                       || xlsx_is(r, XML_READER_TYPE_ELEMENT, "t")))
        {
            in_value = !xmlTextReaderIsEmptyElement(r);

        } else if (xlsx_is(r, XML_READER_TYPE_END_ELEMENT, "v")
                   || xlsx_is(r, XML_READER_TYPE_END_ELEMENT, "t"))
        {
            in_value = 0;

        } else if (in_value && col >= 0
                   && xmlTextReaderNodeType(r) == XML_READER_TYPE_TEXT)
        {
            value = xmlTextReaderConstValue(r);

            if (type_shared) {
                idx = xlsx_number((const char *) value, XLSX_STRINGS_MAX);

                if ((idx == 0 && strcmp((const char *) value, "0") != 0)
                    || idx >= ss->n)
                {
                    if (rec.error == NULL) {
                        rec.error = "单元格引用的共享字符串不存在（文件已损坏）";
                        rec.error_col = col;
                    }
                    continue;
                }

                value = (const xmlChar *) ss->items[idx];
            }

            n = strlen((char *) cells[col]);

            if (n + strlen((const char *) value) > VBP_CSV_FIELD_MAX) {
                if (rec.error == NULL) {
                    rec.error = "字段过长";
                    rec.error_col = col;
                }
            } else {
                memcpy(cells[col] + n, value, strlen((const char *) value) + 1);
            }

        } else if (xlsx_is(r, XML_READER_TYPE_END_ELEMENT, "c")) {
            col = -1;

        } else if (xlsx_is(r, XML_READER_TYPE_END_ELEMENT, "row")) {
            rec.line = line;
            rec.fields = fields;

            /* an all-blank row is what spreadsheets leave behind */
            for (n = 0; n < (size_t) rec.nfields && fields[n][0] == '\0'; n++)
            {
                /* void */
            }

            if ((n < (size_t) rec.nfields || rec.error)
                && record(data, &rec) != 0)
            {
                stop = 1;
            }
        }
    }

    xmlFreeTextReader(r);

    if (!stop && rc != 0) {
        return "XLSX 文件已损坏（工作表无法读取）";
    }

    return NULL;
}
