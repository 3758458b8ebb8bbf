/**
 * How a text DVD (JSON or HAR) is laid out around its recordings: an opening, one piece of text
 * per recording, a closing. Savers and converters write any number of recordings from sync or
 * async sources with it, one piece at a time, so large DVDs stream to disk.
 */
import type { Recording } from '../model.js'

/** The pieces of a text DVD. */
export interface TextLayout {
  /** Text before the first recording. */
  head: string
  /** The text of the recording at position `index`, with its separator from the previous one. */
  item(recording: Recording, index: number): string
  /** Text after the last of `count` recordings. */
  tail(count: number): string
}

/** A text DVD holding `recordings`, as a sequence of text chunks. */
export function* layOut(layout: TextLayout, recordings: Iterable<Recording>): Generator<string> {
  yield layout.head
  let index = 0
  for (const recording of recordings) yield layout.item(recording, index++)
  yield layout.tail(index)
}

/** {@link layOut} for recordings read asynchronously (a file being converted). */
export async function* layOutAsync(
  layout: TextLayout,
  recordings: AsyncIterable<Recording>,
): AsyncGenerator<string> {
  yield layout.head
  let index = 0
  for await (const recording of recordings) yield layout.item(recording, index++)
  yield layout.tail(index)
}
