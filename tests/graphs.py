"""Reading the pictures dot draws, for the graph tests."""
import xml.etree.ElementTree as ET

SVG = '{http://www.w3.org/2000/svg}'


def svg_graph(path, styles=None):
    """The node names and the edges (tail, head) of an SVG dot wrote; with a
    dict for styles, also each edge's stroke-dasharray (None: solid) in it."""
    nodes, edges = set(), set()
    for g in ET.parse(path).iter(SVG + 'g'):
        title = g.find(SVG + 'title')
        if g.get('class') == 'node':
            assert title.text not in nodes
            nodes.add(title.text)
        elif g.get('class') == 'edge':
            tail, head = title.text.split('->')
            edges.add((tail, head))
            if styles is not None:
                styles[(tail, head)] = g.find(SVG + 'path').get('stroke-dasharray')
    return nodes, edges
