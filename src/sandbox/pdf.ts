/**
 * A minimal, valid one-page PDF (the shipping label `awb/read_pdf` serves): a page of the requested
 * paper size with a few lines of text, and a cross-reference table whose offsets are exact, so PDF
 * readers open it without repairing it.
 */

/** Paper sizes eMAG prints labels on, in PDF points (1/72 in). */
export const PAPER: Readonly<Record<'A4' | 'A5' | 'A6', readonly [number, number]>> = {
  A4: [595, 842],
  A5: [420, 595],
  A6: [298, 420],
};

/** PDF string literals escape backslashes and parentheses; the label text is ASCII. */
function literal(text: string): string {
  return `(${text.replace(/[^\x20-\x7e]/g, '?').replace(/([\\()])/g, '\\$1')})`;
}

/** Builds the PDF bytes of a label with `lines` of text on paper `format`. */
export function labelPdf(lines: string[], format: keyof typeof PAPER): Buffer {
  const [width, height] = PAPER[format];
  const text = lines.map((line, i) => `BT /F1 12 Tf 36 ${height - 48 - i * 18} Td ${literal(line)} Tj ET`).join('\n');
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${width} ${height}] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>`,
    `<< /Length ${Buffer.byteLength(text)} >>\nstream\n${text}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(out));
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out);
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}
