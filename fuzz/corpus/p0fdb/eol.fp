[tcp:request]
label = s:other:Padder:eol
sig = *:64:0:1460:1024,*:mss,ws,eol+0:df,id+,bad:*
sig = 6:64:0:*:mss*1,7:mss,sok,ts,nop,ws:flow:0
