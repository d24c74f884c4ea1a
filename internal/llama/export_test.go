package llama

var Int8Peak = int8Peak
var AttentionNodes = attentionNodes
