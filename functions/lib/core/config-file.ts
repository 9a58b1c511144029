import { readFileSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { parse as parseLenient, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { type Config, deploymentProblems, parseConfig } from './config';
import { ConfigurationError } from './errors';

/**
 * Configuration files as an operator writes them (config/stack.js at package time, local mode at start): every
 * message names the file, and a file that is not JSON says where (line and column) and why. Never imported by a
 * deployed function: those read TARGETS_CONFIG, which config/stack.js wrote from a file already checked here.
 */

/** The file as the operator named it: relative to the working directory when it is inside it. */
export const displayPath = (file: string, cwd: string = process.cwd()): string => {
  const rel = relative(cwd, file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
};

/** jsonc-parser's error codes, said as a reader of the file would. */
const SYNTAX: Record<string, string> = {
  InvalidSymbol: 'unexpected characters (a value is a "string", a number, true, false, null, an object or a list)',
  InvalidNumberFormat: 'not a valid number',
  PropertyNameExpected: 'expected a property name in double quotes (a trailing comma before } is not allowed in JSON)',
  ValueExpected: 'expected a value (a trailing comma before ] is not allowed in JSON)',
  EndOfText: 'the file ends before the JSON value is complete (an object, list or string is not closed)',
  ColonExpected: 'expected ":" after the property name',
  CommaExpected: 'expected "," between two entries',
  CloseBraceExpected: 'expected "}" (an object is not closed)',
  CloseBracketExpected: 'expected "]" (a list is not closed)',
  EndOfFileExpected: 'unexpected text after the end of the JSON value',
  InvalidCommentToken: 'comments are not allowed in JSON (the README examples have them; remove them)',
  UnexpectedEndOfComment: 'a comment is not closed (comments are not allowed in JSON)',
  UnexpectedEndOfString: 'a string is not closed (missing ")',
  UnexpectedEndOfNumber: 'a number is not complete',
  InvalidUnicode: 'invalid \\u escape in a string',
  InvalidEscapeCharacter: 'invalid escape in a string (allowed: \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)',
  InvalidCharacter: 'a control character (a line break, a tab) inside a string; write it as \\n or \\t',
};

const lineAndColumn = (text: string, offset: number): { line: number; column: number } => {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before[before.length - 1].length + 1 };
};

/**
 * Parses `text` as strict JSON. JSON.parse decides; when it refuses, jsonc-parser (strict settings) locates the
 * first error, because Node's message carries a position only for some errors and words it differently by version.
 */
export const parseJsonText = (text: string, source: string): unknown => {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  if (body.trim() === '') throw new ConfigurationError(source, 'the file is empty: expected a JSON object', []);
  try {
    return JSON.parse(body) as unknown;
  } catch (e) {
    const errors: ParseError[] = [];
    parseLenient(body, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
    const first = errors[0];
    const at = lineAndColumn(body, first ? first.offset : body.length);
    const code = first && first.offset >= body.trimEnd().length ? 'EndOfText' : first && printParseErrorCode(first.error);
    const why = code ? (SYNTAX[code] ?? code) : (e as Error).message;
    throw new ConfigurationError(source, `not valid JSON at line ${at.line}, column ${at.column}: ${why}`, []);
  }
};

/** Reads and parses a JSON file; the messages name it as `displayPath` shows it. */
export const readJsonFile = (file: string): unknown => {
  const source = displayPath(file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigurationError(source, code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? (e as Error).message})`, []);
  }
  return parseJsonText(text, source);
};

/**
 * A targets file, validated as the functions validate it; `deploying` adds what only a deployment needs and what
 * a function in Lambda would refuse (deploymentProblems), so that packaging fails, not the first request.
 */
export const loadConfigFile = (file: string, options: { deploying?: boolean } = {}): Config => {
  const source = displayPath(file);
  const config = parseConfig(readJsonFile(file), source);
  const problems = options.deploying ? deploymentProblems(config) : [];
  if (problems.length) throw new ConfigurationError(source, 'cannot be deployed', problems);
  return config;
};
